//! The handle to a call: what the app and `tincan-cli` hold. It joins, then sends the
//! session ([`crate::session`]) its commands.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use tincan_media::audio::AudioProcessor;
use tincan_media::video::VideoFormat;
use tincan_protocol::{AudioProcessing, IceServer, PeerId, RoomCode};
use tincan_signaling::connect;
use tokio::sync::{mpsc, oneshot};

use crate::error::CallError;
use crate::events::{CallEvent, CallFeeds, PeerStats};
use crate::files::{Control, TransferId, Transfers};
use crate::identity::Identity;
use crate::media::{open_audio, open_video, Controls, LocalMedia};
use crate::options::{AudioInput, CallOptions, RoomChoice, VideoInput};
use crate::playout::{AudioOutput, Playout};
use crate::session::Session;

/// Whether any of the ICE servers is a TURN relay (with credentials).
fn offers_turn(servers: &[IceServer]) -> bool {
    servers.iter().any(|s| {
        s.credential.is_some()
            && s.urls
                .iter()
                .any(|u| u.starts_with("turn:") || u.starts_with("turns:"))
    })
}

pub(crate) enum Command {
    Chat(String),
    /// Offer a file to one peer, or to everyone connected.
    SendFile {
        file: PathBuf,
        to: Option<PeerId>,
        reply: oneshot::Sender<Result<Vec<TransferId>, CallError>>,
    },
    /// Tell every peer the microphone's processing changed.
    AudioProcessing(AudioProcessing),
    Speaker(AudioOutput, oneshot::Sender<Result<(), CallError>>),
    RefreshVideo,
    /// We started or stopped sharing our screen: tell every peer, and split the bandwidth.
    Sharing(bool),
    /// We show a peer's camera at this size now (device pixels; `0x0`: not at all).
    ShowVideo(PeerId, (u32, u32)),
    /// Start recording into a folder (`Some`), or stop (`None`): the files written.
    Record(
        Option<PathBuf>,
        oneshot::Sender<Result<Vec<PathBuf>, CallError>>,
    ),
    Stats(oneshot::Sender<Vec<PeerStats>>),
    Leave(oneshot::Sender<Vec<PeerStats>>),
}

/// A call in progress. Dropping it leaves the call.
pub struct Call {
    room: RoomCode,
    /// Ours in the room; a new one if the call had to rejoin as a new peer.
    peer_id: Arc<Mutex<PeerId>>,
    /// The size and rate asked of video sources, for switching to another.
    format: VideoFormat,
    /// The video input chosen, kept while the camera is off (which closes it) to open again
    /// when it comes on. Holding the lock also orders camera on/off against switches.
    video_input: Mutex<VideoInput>,
    controls: Arc<Controls>,
    share_controls: Arc<Controls>,
    processor: AudioProcessor,
    commands: mpsc::Sender<Command>,
    transfers: Arc<Transfers>,
}

impl Call {
    /// Connects, creates or joins the room, starts the local media and calls everyone there.
    /// What happens in it comes out of the [`CallFeeds`]: control events on one queue,
    /// pictures and sound on the other.
    pub async fn join(options: CallOptions) -> Result<(Call, CallFeeds), CallError> {
        if let Some(dir) = &options.record {
            std::fs::create_dir_all(dir).map_err(|e| {
                CallError::Media(tincan_media::MediaError::File {
                    path: dir.display().to_string(),
                    reason: format!("cannot record there: {e}"),
                })
            })?;
        }
        let (events_tx, events) = mpsc::channel(256);
        // A few seconds of sound and pictures: a consumer further behind holds the decoders
        // back (pictures) or misses some (sound, self view), never a control event.
        let (frames_tx, frames) = mpsc::channel(256);
        // Made before anything is sent: what we commit to must exist before the first peer.
        let identity = Identity::generate()?;
        let media = LocalMedia::start(&options, events_tx.clone(), frames_tx.clone())?;
        let playout = Playout::start(
            &options.output,
            events_tx.clone(),
            frames_tx.clone(),
            media.processor.clone(),
        )?;
        let (signaling, signals) = connect(&options.server, options.signaling.clone()).await?;
        let room = match &options.room {
            RoomChoice::Create => signaling.create_room().await?.to_string(),
            RoomChoice::Join(code) => code.clone(),
        };
        let joined = signaling.join(&room, &options.name).await?;
        if options.relay_only && !offers_turn(&joined.ice_servers) {
            if let Err(e) = signaling.leave().await {
                tracing::debug!(error = %e, "leave not acknowledged");
            }
            signaling.close().await;
            return Err(CallError::NoRelay {
                server: options.server.clone(),
            });
        }
        let (commands, commands_rx) = mpsc::channel(16);
        let controls = Arc::clone(&media.controls);
        let share_controls = Arc::clone(&media.share_controls);
        let processor = media.processor.clone();
        let _ = events_tx
            .send(CallEvent::Joined {
                room: joined.room.clone(),
                peer_id: joined.peer_id.clone(),
                peers: joined.peers.clone(),
            })
            .await;
        let me = Arc::new(Mutex::new(joined.peer_id.clone()));
        let transfers = Arc::new(Transfers::default());
        Session::start(
            &options,
            identity,
            joined.clone(),
            Arc::clone(&me),
            media,
            playout,
            signaling,
            signals,
            events_tx,
            frames_tx,
            commands_rx,
            Arc::clone(&transfers),
        )
        .await;
        Ok((
            Call {
                room: joined.room,
                peer_id: me,
                format: options.format,
                video_input: Mutex::new(options.video.clone()),
                controls,
                share_controls,
                processor,
                commands,
                transfers,
            },
            CallFeeds { events, frames },
        ))
    }

    pub fn room(&self) -> &RoomCode {
        &self.room
    }

    /// Our id in the room now (it changes if the call had to rejoin as a new peer).
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Mutes or unmutes the microphone (muted sends silence).
    pub fn set_mic_muted(&self, muted: bool) {
        self.controls.mic_muted.store(muted, Ordering::Relaxed);
    }

    /// Turns echo cancellation, noise suppression and automatic gain on or off from the next
    /// microphone frame, and tells every peer (their [`PeerStats::remote_audio_processing`]).
    pub async fn set_audio_processing(&self, settings: AudioProcessing) -> Result<(), CallError> {
        self.processor.set_settings(settings);
        self.commands
            .send(Command::AudioProcessing(settings))
            .await
            .map_err(|_| CallError::Ended)
    }

    /// Turns the camera off or back on. Off sends no video and closes the video input, so a
    /// camera's light goes out; on opens it again and starts with a keyframe. Turning on
    /// fails, and the camera stays off, when the input cannot be opened (unplugged, or taken
    /// by another app meanwhile). Opening a camera can take a moment.
    pub fn set_camera_off(&self, off: bool) -> Result<(), CallError> {
        let input = self
            .video_input
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.controls.camera_off.load(Ordering::Relaxed) == off {
            return Ok(());
        }
        if off {
            // The flag stops sending at once; the capture thread drops the source at its
            // next picture.
            self.controls.camera_off.store(true, Ordering::Relaxed);
            self.controls.next_video.put(None);
        } else {
            let source = open_video(&input, self.format)?;
            self.controls.next_video.put(source);
            self.controls.keyframe_wanted.store(true, Ordering::Relaxed);
            self.controls.camera_off.store(false, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Sends video from another source (another camera, a file, the pattern, or none) on the
    /// same track: nothing is renegotiated, and the far end gets a keyframe at the new size.
    /// The new source is opened here, so a camera that is missing or busy fails this call and
    /// the old one keeps sending. Opening a camera can take a moment. With the camera off the
    /// choice is only remembered: it is opened when the camera is turned on.
    pub fn set_video_input(&self, input: VideoInput) -> Result<(), CallError> {
        let mut chosen = self
            .video_input
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !self.controls.camera_off.load(Ordering::Relaxed) {
            let source = open_video(&input, self.format)?;
            self.controls.next_video.put(source);
            self.controls.keyframe_wanted.store(true, Ordering::Relaxed);
        }
        *chosen = input;
        Ok(())
    }

    /// Shares a screen or a window beside the camera (on the connection's second video
    /// track: the far ends show it large), or stops sharing with `None`. Every peer is told
    /// (`Signal::Sharing`); nothing is renegotiated. A screen that cannot be opened fails this
    /// call and changes nothing; in a Wayland session opening waits for the person to pick
    /// in the desktop's dialog (on a blocking thread, not the runtime's). A shared window that closes ends the share by itself
    /// ([`CallEvent::InputLost`] with [`crate::LostInput::Screen`]).
    pub async fn share_screen(
        &self,
        target: Option<tincan_media::video::ScreenTarget>,
    ) -> Result<(), CallError> {
        // Opening may wait on the person: the desktop's own dialog, in a Wayland session.
        let source = match target {
            Some(target) => {
                let open = tokio::task::spawn_blocking(move || crate::media::open_share(&target));
                Some(open.await.map_err(|e| CallError::WebRtc(e.to_string()))??)
            }
            None => None,
        };
        let on = source.is_some();
        self.share_controls.next_video.put(source);
        self.share_controls
            .keyframe_wanted
            .store(true, Ordering::Relaxed);
        self.commands
            .send(Command::Sharing(on))
            .await
            .map_err(|_| CallError::Ended)
    }

    /// Sends audio from another source (another microphone, a file, a tone, or none) on the
    /// same track. A microphone that cannot be opened fails this call; the old one goes on.
    pub fn set_audio_input(&self, input: AudioInput) -> Result<(), CallError> {
        let source = open_audio(&input)?;
        self.controls.next_audio.put(source);
        Ok(())
    }

    /// Plays the others on another speaker, or on none, from now on. Fails (and changes
    /// nothing) when that speaker cannot be opened.
    pub async fn set_speaker(&self, output: AudioOutput) -> Result<(), CallError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Speaker(output, tx))
            .await
            .map_err(|_| CallError::Ended)?;
        rx.await.map_err(|_| CallError::Ended)?
    }

    /// Sends a chat message to everyone.
    pub async fn send_chat(&self, text: &str) -> Result<(), CallError> {
        if text.len() > crate::chat::MAX_CHAT_BYTES {
            return Err(CallError::ChatTooLong {
                bytes: text.len(),
                max: crate::chat::MAX_CHAT_BYTES,
            });
        }
        self.commands
            .send(Command::Chat(text.to_owned()))
            .await
            .map_err(|_| CallError::Ended)
    }

    /// Offers the file at `path` to `to`, or to everyone connected: one transfer each, whose
    /// course arrives as [`CallEvent::File`]. Fails at once when the file cannot be read or
    /// there is nobody to send it to.
    pub async fn send_file(
        &self,
        path: &Path,
        to: Option<PeerId>,
    ) -> Result<Vec<TransferId>, CallError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::SendFile {
                file: path.to_owned(),
                to,
                reply,
            })
            .await
            .map_err(|_| CallError::Ended)?;
        answer.await.map_err(|_| CallError::Ended)?
    }

    /// Accepts the file offered as `id`: it is saved in `dir` (made if missing) under the
    /// name it was offered with, numbered when that is taken.
    pub fn accept_file(&self, id: TransferId, dir: &Path) -> Result<(), CallError> {
        self.transfers.tell(id, Control::Accept(dir.to_owned()))
    }

    /// Declines the file offered as `id`; the sender is told.
    pub fn decline_file(&self, id: TransferId) -> Result<(), CallError> {
        self.transfers.tell(id, Control::Decline)
    }

    /// Stops transfer `id`, sent or received, wherever it is; nothing of it is kept.
    pub fn cancel_file(&self, id: TransferId) -> Result<(), CallError> {
        self.transfers.tell(id, Control::Cancel)
    }

    /// Throws away the video arriving from every peer until each sends a fresh keyframe,
    /// which is asked for at once (a PLI): what a "refresh video" button does. Each arrival
    /// is reported as [`CallEvent::KeyframeArrived`] with how long it took.
    pub async fn refresh_video(&self) -> Result<(), CallError> {
        self.commands
            .send(Command::RefreshVideo)
            .await
            .map_err(|_| CallError::Ended)
    }

    /// Says how big `peer`'s camera is shown here, in device pixels (`0x0`: not at all), so it
    /// sends no more than that needs: half its frame rate to a tile at most half its picture
    /// each way, nothing to none (docs/calls.md, "Video sized to each receiver"). Told to the
    /// peer at most four times a second, only when it changes.
    pub async fn show_video(
        &self,
        peer: &PeerId,
        width: u32,
        height: u32,
    ) -> Result<(), CallError> {
        self.commands
            .send(Command::ShowVideo(peer.clone(), (width, height)))
            .await
            .map_err(|_| CallError::Ended)
    }

    /// Starts recording the call into `dir`: one WebM file per remote peer (its video as it
    /// came, its sound as played), named `Tincan <room> <date> <time> <name>.webm`. Every
    /// peer is told ([`CallEvent::Recording`] at their end). A folder that cannot be written
    /// fails here; recording already changes nothing.
    pub async fn start_recording(&self, dir: &Path) -> Result<(), CallError> {
        self.record(Some(dir.to_path_buf())).await.map(drop)
    }

    /// Stops recording; the files written. Leaving the call stops it too.
    pub async fn stop_recording(&self) -> Result<Vec<PathBuf>, CallError> {
        self.record(None).await
    }

    async fn record(&self, dir: Option<PathBuf>) -> Result<Vec<PathBuf>, CallError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Record(dir, tx))
            .await
            .map_err(|_| CallError::Ended)?;
        rx.await.map_err(|_| CallError::Ended)?
    }

    /// Statistics for every peer, as sampled at the last one-second tick.
    pub async fn stats(&self) -> Result<Vec<PeerStats>, CallError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Stats(tx))
            .await
            .map_err(|_| CallError::Ended)?;
        rx.await.map_err(|_| CallError::Ended)
    }

    /// Leaves the call; returns every peer's final statistics. Every control fails with
    /// [`CallError::Ended`] afterwards.
    pub async fn leave(&self) -> Result<Vec<PeerStats>, CallError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Leave(tx))
            .await
            .map_err(|_| CallError::Ended)?;
        rx.await.map_err(|_| CallError::Ended)
    }
}
