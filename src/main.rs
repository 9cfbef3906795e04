fn main() -> std::process::ExitCode {
    ledgermq::cli::main()
}
