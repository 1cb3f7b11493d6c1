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

impl Qmp {
    /// Connects and negotiates capabilities.
    pub fn connect(socket: &Path) -> Result<Self> {
        let stream = UnixStream::connect(socket).map_err(|e| Error::Qmp(format!("{}: {e}", socket.display())))?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(qmp_err)?;
        let writer = stream.try_clone().map_err(qmp_err)?;
        let mut qmp = Qmp { reader: BufReader::new(stream), writer };
        let greeting = qmp.read_message()?;
        if greeting.get("QMP").is_none() {
            return Err(Error::Qmp(format!("unexpected greeting: {greeting}")));
        }
        qmp.execute("qmp_capabilities", None)?;
        Ok(qmp)
    }

    fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).map_err(|e| Error::Qmp(format!("waiting for a reply: {e}")))?;
        if n == 0 {
            return Err(Error::Qmp("connection closed by QEMU".into()));
        }
        serde_json::from_str(&line).map_err(|e| Error::Qmp(format!("bad JSON {line:?}: {e}")))
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
            let reply = self.read_message()?;
            if let Some(ret) = reply.get("return") {
                return Ok(ret.clone());
            }
            if let Some(err) = reply.get("error") {
                return Err(Error::Qmp(format!("{command}: {err}")));
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
