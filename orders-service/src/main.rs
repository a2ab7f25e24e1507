//! The orders-service binary: `serve` (the default) or `healthcheck`.

fn main() -> std::process::ExitCode {
    service_kit::serve::main::<orders_service::startup::Application>()
}
