//! `auth-service` binary: see [`auth_service::cli`].

fn main() -> std::process::ExitCode {
    auth_service::cli::main()
}
