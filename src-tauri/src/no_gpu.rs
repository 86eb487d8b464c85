//! On a computer without a GPU (a virtual machine, a remote desktop, a CI box) Mesa draws
//! OpenGL in software with llvmpipe, and loading it costs ~48 MiB resident (libLLVM alone
//! 43 MiB). The web process needs it for the tiles' WebGL. The app's own process does not,
//! yet GTK sets OpenGL up when it opens the display, and WebKitGTK does when it asks EGL
//! which GPU to hand the web process and when the page's pictures arrive as DMA-BUFs. Without
//! a GPU none of that buys anything, so the app asks both to leave OpenGL to the web process
//! (the page's pictures then come in shared memory). Measured in a 720p call: app RSS
//! 232 → 180 MiB, frames drawn and CPU unchanged (BENCHMARKS.md).
//!
//! With a GPU nothing changes. Someone who sets any of these variables themselves is tuning
//! WebKit by hand, and the app then sets none of them.

use std::path::Path;

/// What the app sets when there is no GPU, and why.
const WITHOUT_GPU: [(&str, &str); 3] = [
    // GTK 3 opens a GLX context at start-up only to choose its X visuals.
    ("GDK_GL", "disable"),
    // The page's pictures come to this process in shared memory, not as GL textures.
    ("WEBKIT_DISABLE_DMABUF_RENDERER", "1"),
    // WebKit otherwise starts EGL in this process to ask which render node the GPU has;
    // there is none, and a path that is no GPU tells it so without asking.
    ("WEBKIT_WEB_RENDER_DEVICE_FILE", "/dev/null"),
];

/// Whether `dri` (normally /dev/dri) holds a GPU render node (`renderD128`, ...).
fn has_render_node(dri: &Path) -> bool {
    std::fs::read_dir(dri)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
        })
        .unwrap_or(false)
}

/// The variables to set: none with a GPU, none if the person set any of them.
fn settings(has_gpu: bool, is_set: impl Fn(&str) -> bool) -> Vec<(&'static str, &'static str)> {
    if has_gpu || WITHOUT_GPU.iter().any(|(name, _)| is_set(name)) {
        return Vec::new();
    }
    WITHOUT_GPU.to_vec()
}

/// Keeps software OpenGL out of the app's process on a computer without a GPU. Must run
/// before GTK starts and before any other thread exists (it sets environment variables).
pub fn leave_opengl_to_the_web_process_without_a_gpu() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let chosen = settings(has_render_node(Path::new("/dev/dri")), |name| {
        std::env::var_os(name).is_some()
    });
    if !chosen.is_empty() {
        tracing::info!("no GPU render node: OpenGL is left to the web process");
    }
    for (name, value) in chosen {
        std::env::set_var(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_render_node_counts_as_a_gpu() {
        let dir = std::env::temp_dir().join(format!("tincan-dri-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(!has_render_node(&dir), "a missing /dev/dri is no GPU");
        std::fs::create_dir_all(dir.join("by-path")).unwrap();
        std::fs::write(dir.join("card0"), b"").unwrap();
        assert!(
            !has_render_node(&dir),
            "a display-only card is no render node"
        );
        std::fs::write(dir.join("renderD128"), b"").unwrap();
        assert!(has_render_node(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_a_gpu_all_three_are_set_unless_the_person_chose() {
        let none_set = |_: &str| false;
        assert_eq!(settings(false, none_set).len(), 3);
        assert!(settings(true, none_set).is_empty(), "a GPU changes nothing");
        let gdk_set = |name: &str| name == "GDK_GL";
        assert!(
            settings(false, gdk_set).is_empty(),
            "someone tuning by hand gets nothing of ours"
        );
    }
}
