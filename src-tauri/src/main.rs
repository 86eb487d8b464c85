// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    tincan_media::audio::pulse_cookie::export_for_cpal();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,tincan=info,zbus=error".into()),
        )
        .init();
    #[cfg(windows)]
    if let Some(problem) = tincan_app::webview_missing::problem() {
        eprintln!("tincan: {problem}");
        tincan_app::webview_missing::tell(&problem);
        return std::process::ExitCode::FAILURE;
    }
    match tincan_app::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tincan: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
