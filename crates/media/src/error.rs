/// What went wrong in the media engine. Messages are written for the person using the app.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no camera found; plug one in, or join with the camera off")]
    NoCamera,
    #[error("camera '{0}' was not found; it may have been unplugged")]
    CameraNotFound(String),
    #[error("the camera could not be opened (is another app using it?): {0}")]
    CameraUnavailable(String),
    #[error("no microphone found; plug one in, or join muted")]
    NoMicrophone,
    #[error("no speaker or headphones found")]
    NoSpeaker,
    #[error("audio device '{0}' was not found; it may have been unplugged")]
    AudioDeviceNotFound(String),
    #[error("the audio device failed: {0}")]
    AudioDevice(String),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("frame format: {0}")]
    Format(String),
    /// The screen (or window) to share could not be read.
    #[error("cannot share {what}: {reason}")]
    Screen { what: String, reason: String },
    #[error("codec: {0}")]
    Codec(String),
    #[error("audio processing: {0}")]
    Processing(String),
}
