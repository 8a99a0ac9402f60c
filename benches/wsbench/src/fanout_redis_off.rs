//! Built without the `redis` feature: the cross-process fan-out is not available.

use crate::bench::{ServerProc, ServerSpec};

pub fn measure_two<T>(
    _spec: &ServerSpec,
    _pin: bool,
    _measure: impl FnOnce(&[&ServerProc], u32) -> Result<T, String>,
) -> Result<T, String> {
    Err("wsbench was built without the `redis` feature".into())
}

pub fn ceiling(_payload: usize) -> String {
    String::new()
}
