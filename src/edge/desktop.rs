//! The desktop: showing a notification (notify-rust: D-Bus `org.freedesktop.Notifications`
//! through zbus on the tokio runtime on Linux and the BSDs, the notification centre on macOS).
//! A notification that cannot be shown is an error for the log, never fatal.

use std::time::Duration;

use crate::core::notices::Notice;

/// Shows `notice` on the desktop. Errors are for logging only.
pub async fn show(notice: &Notice) -> Result<(), String> {
    let mut n = notify_rust::Notification::new();
    n.appname("keyrot-agent")
        .summary(&crate::core::redact::for_terminal(&notice.summary()))
        .body(&crate::core::redact::for_notification(&notice.body()))
        .icon("dialog-password");
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        n.urgency(if notice.critical() {
            notify_rust::Urgency::Critical
        } else {
            notify_rust::Urgency::Normal
        });
        match tokio::time::timeout(Duration::from_secs(10), n.show_async()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the notification server did not answer within 10 s".into()),
        }
    }
    #[cfg(target_os = "macos")]
    {
        let shown = tokio::task::spawn_blocking(move || n.show().map(|_| ()));
        match tokio::time::timeout(Duration::from_secs(10), shown).await {
            Ok(Ok(r)) => r.map_err(|e| e.to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the notification centre did not answer within 10 s".into()),
        }
    }
}

/// The name of the notification server on the session bus (for `doctor`); blocking, so run it on
/// a blocking thread.
#[cfg(all(unix, not(target_os = "macos")))]
pub fn server_name() -> Result<String, String> {
    notify_rust::get_server_information()
        .map(|i| format!("{} {}", i.name, i.version))
        .map_err(|e| e.to_string())
}

/// The notification centre is always there on macOS.
#[cfg(target_os = "macos")]
pub fn server_name() -> Result<String, String> {
    Ok("the macOS notification centre".into())
}
