//! A minimal QMP client (JSON lines over the run's unix socket): capabilities
//! negotiation, then one command at a time; asynchronous events are skipped.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::{Error, Result};

pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

fn qmp_err(e: impl std::fmt::Display) -> Error {
    Error::Qmp(e.to_string())
}

fn parse_message(line: &str) -> Result<Value> {
    serde_json::from_str(line).map_err(|e| Error::Qmp(format!("bad JSON {line:?}: {e}")))
}

/// Checks QEMU's first line is the QMP greeting (`{"QMP": {...}}`).
pub fn check_greeting(line: &str) -> Result<()> {
    let greeting = parse_message(line)?;
    if greeting.get("QMP").is_none() {
        return Err(Error::Qmp(format!("unexpected greeting: {greeting}")));
    }
    Ok(())
}

/// One line read while waiting for `command`'s reply: its `return` value, `None` for an
/// asynchronous event (to skip), or an error for an `error` reply or a line that is
/// not JSON.
pub fn parse_reply(command: &str, line: &str) -> Result<Option<Value>> {
    let reply = parse_message(line)?;
    if let Some(ret) = reply.get("return") {
        return Ok(Some(ret.clone()));
    }
    if let Some(err) = reply.get("error") {
        return Err(Error::Qmp(format!("{command}: {err}")));
    }
    Ok(None)
}

impl Qmp {
    /// Connects and negotiates capabilities.
    pub fn connect(socket: &Path) -> Result<Self> {
        let stream = UnixStream::connect(socket).map_err(|e| Error::Qmp(format!("{}: {e}", socket.display())))?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(qmp_err)?;
        let writer = stream.try_clone().map_err(qmp_err)?;
        let mut qmp = Qmp { reader: BufReader::new(stream), writer };
        check_greeting(&qmp.read_line()?)?;
        qmp.execute("qmp_capabilities", None)?;
        Ok(qmp)
    }

    fn read_line(&mut self) -> Result<String> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).map_err(|e| Error::Qmp(format!("waiting for a reply: {e}")))?;
        if n == 0 {
            return Err(Error::Qmp("connection closed by QEMU".into()));
        }
        Ok(line)
    }

    /// Runs one command and returns its `return` value (waiting up to 30 s).
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value> {
        self.execute_within(command, arguments, Duration::from_secs(30))
    }

    /// Runs one command, waiting up to `limit` for its reply.
    pub fn execute_within(&mut self, command: &str, arguments: Option<Value>, limit: Duration) -> Result<Value> {
        self.reader.get_ref().set_read_timeout(Some(limit)).map_err(qmp_err)?;
        let mut msg = json!({ "execute": command });
        if let Some(args) = arguments {
            msg["arguments"] = args;
        }
        let mut text = msg.to_string();
        text.push('\n');
        self.writer.write_all(text.as_bytes()).map_err(qmp_err)?;
        loop {
            if let Some(ret) = parse_reply(command, &self.read_line()?)? {
                return Ok(ret);
            }
            // An asynchronous event: skip it.
        }
    }

    /// Pauses every vCPU (`stop`).
    pub fn stop(&mut self) -> Result<()> {
        self.execute("stop", None).map(drop)
    }

    /// Resumes the guest (`cont`).
    pub fn cont(&mut self) -> Result<()> {
        self.execute("cont", None).map(drop)
    }

    /// `query-status`'s `status` field (`running`, `paused`, ...).
    pub fn status(&mut self) -> Result<String> {
        let v = self.execute("query-status", None)?;
        Ok(v.get("status").and_then(Value::as_str).unwrap_or("unknown").to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        check_greeting(r#"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 9}}, "capabilities": ["oob"]}}"#).unwrap();
        assert!(check_greeting(r#"{"return": {}}"#).unwrap_err().to_string().contains("unexpected greeting"));
        assert_eq!(parse_reply("query-status", r#"{"return": {"status": "paused", "running": false}}"#).unwrap().unwrap()["status"], "paused");
        assert_eq!(parse_reply("cont", r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"}"#).unwrap(), None);
        let e = parse_reply("stop", r#"{"error": {"class": "GenericError", "desc": "no"}}"#).unwrap_err().to_string();
        assert!(e.contains("stop: ") && e.contains("GenericError"), "{e}");
        assert!(parse_reply("stop", "not json\n").unwrap_err().to_string().contains("bad JSON"));
    }
}
