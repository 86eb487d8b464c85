//! Windows: the app draws its window with Microsoft Edge WebView2. Windows 11 and current
//! Windows 10 have it; a computer without it would otherwise see nothing happen when it
//! starts Tincan. So the app asks first, and without it says so in a message box and ends.

use windows_sys::Win32::UI::WindowsAndMessaging::{MessageBoxW, MB_ICONERROR, MB_OK};

/// Where Microsoft offers the runtime (the Evergreen installer).
const DOWNLOAD: &str = "https://developer.microsoft.com/microsoft-edge/webview2/";

/// None when WebView2 is there; else what the person is told (and why, in the log).
pub fn problem() -> Option<String> {
    let error = tauri::webview_version().err()?;
    tracing::error!(%error, "no WebView2 runtime");
    Some(format!(
        "Tincan shows its window with Microsoft Edge WebView2, which this computer does not \
         have.\n\nInstall the Evergreen runtime from {DOWNLOAD} and start Tincan again."
    ))
}

/// Shows `text` in a message box (the app has no console) and waits for OK.
pub fn tell(text: &str) {
    let wide = |s: &str| s.encode_utf16().chain(Some(0)).collect::<Vec<u16>>();
    let (text, title) = (wide(text), wide("Tincan"));
    // SAFETY: both strings are NUL-terminated UTF-16 that outlive the call; no owner window.
    unsafe {
        MessageBoxW(
            std::ptr::null_mut(),
            text.as_ptr(),
            title.as_ptr(),
            MB_OK | MB_ICONERROR,
        );
    }
}
