//! Policy files (`--policy my.toml` / `.yaml`): any text is a policy or an
//! error, never a panic.
#![no_main]
use fieldops::domain::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Policy::from_toml(text);
        let _ = Policy::from_yaml(text);
    }
});
