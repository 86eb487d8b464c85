//! Recording the call as the session sees it: one WebM file per remote peer
//! ([`crate::recording::Tape`]) from the moment we start until we stop, peers who join in
//! between included; everyone is told (`Signal::Recording`), and told again when a connection
//! starts over, so nobody is recorded without seeing it.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tincan_protocol::{PeerId, Signal};

use super::Session;
use crate::error::CallError;
use crate::events::CallEvent;
use crate::peer::PeerSession;
use crate::recording::tape_path;

/// A recording in progress.
pub(super) struct Recording {
    dir: PathBuf,
    started: SystemTime,
    /// Files of peers whose part is finished (they left, or their connection started over).
    done: Vec<PathBuf>,
}

impl Session {
    /// Starts recording every peer into `dir` (which must exist and be writable), and tells
    /// them. Recording already: nothing changes.
    pub(super) async fn start_recording(&mut self, dir: &Path) -> Result<(), CallError> {
        if self.recording.is_some() {
            return Ok(());
        }
        check_writable(dir)?;
        self.recording = Some(Recording {
            dir: dir.to_path_buf(),
            started: SystemTime::now(),
            done: Vec::new(),
        });
        tracing::info!(dir = %dir.display(), "recording");
        let ids: Vec<PeerId> = self.peers.keys().cloned().collect();
        for id in ids {
            self.start_tape(&id);
            self.tell_recording(id, true).await;
        }
        Ok(())
    }

    /// Stops recording: the files written, one per peer (and one more for each connection
    /// that started over).
    pub(super) async fn stop_recording(&mut self) -> Result<Vec<PathBuf>, CallError> {
        let Some(mut recording) = self.recording.take() else {
            return Ok(Vec::new());
        };
        let mut failed = None;
        for peer in self.peers.values() {
            match peer.audio.tape.stop() {
                Ok(Some(path)) => recording.done.push(path),
                Ok(None) => {}
                Err(e) => failed = Some(e),
            }
        }
        let ids: Vec<PeerId> = self.peers.keys().cloned().collect();
        for id in ids {
            self.tell_recording(id, false).await;
        }
        tracing::info!(files = recording.done.len(), "recording stopped");
        match failed {
            Some(e) if recording.done.is_empty() => Err(e.into()),
            _ => Ok(recording.done),
        }
    }

    /// A peer added while recording is recorded from now on.
    pub(super) fn start_tape(&mut self, id: &PeerId) {
        let (Some(recording), Some(peer)) = (&self.recording, self.peers.get(id)) else {
            return;
        };
        let path = tape_path(&recording.dir, &self.room, &peer.name, recording.started);
        match peer.audio.tape.start(&path) {
            // The file starts at a keyframe: ask for one rather than wait for the next.
            Ok(()) => {
                let _ = peer.refresh.send(());
            }
            Err(e) => tracing::warn!(error = %e, "cannot record a peer"),
        }
    }

    /// A peer going away (or starting over) closes its file.
    pub(super) fn end_tape(&mut self, peer: &PeerSession) {
        match peer.audio.tape.stop() {
            Ok(Some(path)) => {
                if let Some(recording) = &mut self.recording {
                    recording.done.push(path);
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "a peer's recording did not close cleanly"),
        }
    }

    /// Every description we send is followed by whether we record, as with sharing.
    pub(super) async fn tell_recording_if_on(&self, to: PeerId) {
        if self.recording.is_some() {
            self.tell_recording(to, true).await;
        }
    }

    async fn tell_recording(&self, to: PeerId, on: bool) {
        if let Err(e) = self
            .signaling
            .send_signal(to, Signal::Recording { on })
            .await
        {
            tracing::debug!(error = %e, "could not tell a peer we record");
        }
    }

    /// A peer says it started or stopped recording: the app shows it.
    pub(super) async fn on_remote_recording(&mut self, from: PeerId, on: bool) {
        let Some(peer) = self.peers.get_mut(&from) else {
            return;
        };
        if peer.remote_recording == on {
            return;
        }
        peer.remote_recording = on;
        self.emit(CallEvent::Recording { peer: from, on }).await;
    }
}

/// Checks that `dir` takes files, by making one and removing it.
fn check_writable(dir: &Path) -> Result<(), CallError> {
    let probe = dir.join(format!(".tincan-recording-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| CallError::RecordingFolder {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}
