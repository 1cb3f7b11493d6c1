//! A traced call as a line for people, with the model's verdict on it.

use crate::compare::JudgedCall;

/// A return code as the kernel names it.
pub fn errno_name(v: i32) -> String {
    match v {
        0 => "0".into(),
        -12 => "-ENOMEM".into(),
        -16 => "-EBUSY".into(),
        -22 => "-EINVAL".into(),
        v => v.to_string(),
    }
}

/// `function(args) = ret from caller on cpu [boot state]`, then the model's verdict.
pub fn call_line(j: &JudgedCall<'_>) -> String {
    let c = j.call;
    let args = c.args_text();
    let ret = c.ret_text(errno_name);
    let mut s = format!(
        "{}({}) = {ret} from {} on {} [page_alloc_available={} online={} caps_finalized={}]",
        c.function,
        args.join(", "),
        c.caller,
        c.cpu,
        c.state.page_alloc_available as u8,
        c.state.online_cpus,
        c.state.caps_finalized as u8
    );
    let timeline = j.boot_state_disagreement();
    if !timeline.is_empty() {
        s.push_str(&format!("  BOOT STATE NOT THE TIMELINE'S ({})", timeline.join("; ")));
    }
    if let Some(m) = j.model_ret {
        if j.mismatch() {
            s.push_str(&format!("  MODEL RETURNS {}", errno_name(m)));
        } else {
            s.push_str("  (model agrees)");
        }
    }
    s
}
