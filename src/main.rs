// mimalloc: a request allocates a few dozen small strings and maps (headers, ext fields);
// glibc malloc was ~11 % of a produce benchmark's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ledgermq::cli::main()
}
