//! The notifications-service binary: `serve` (the default) or `healthcheck`.

fn main() -> std::process::ExitCode {
    service_kit::serve::main::<notifications_service::startup::Application>()
}
