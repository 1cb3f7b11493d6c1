//! Where a capture reads the Linux side: a named checkpoint of the timeline, or the
//! first time the kernel reaches a source line (`line:FILE:LINE`, through the DWARF line
//! table), which `oracle dump --checkpoint` accepts too.

use std::fmt;

use crate::error::{Error, Result};
use crate::named::Named;
use crate::timeline::Checkpoint;

/// A point where the guest is stopped and read.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StopPoint {
    Checkpoint(Checkpoint),
    Line { file: String, line: u64 },
}

impl StopPoint {
    /// A checkpoint name, or `line:FILE:LINE`.
    pub fn parse(text: &str) -> Result<StopPoint> {
        if let Some(spec) = text.strip_prefix("line:") {
            let (file, line) = spec.rsplit_once(':').ok_or_else(|| Error::Usage("a line checkpoint is line:FILE:LINE".into()))?;
            let line = line.parse().map_err(|_| Error::Usage(format!("{line:?} is not a line number")))?;
            return Ok(StopPoint::Line { file: file.to_string(), line });
        }
        Checkpoint::parse(text).map(StopPoint::Checkpoint).ok_or_else(|| Error::Usage(format!("unknown checkpoint {text:?}; known: {}, or line:FILE:LINE", Checkpoint::known())))
    }

    /// The named checkpoint, if this is one.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        match self {
            StopPoint::Checkpoint(c) => Some(*c),
            StopPoint::Line { .. } => None,
        }
    }
}

impl From<Checkpoint> for StopPoint {
    fn from(c: Checkpoint) -> StopPoint {
        StopPoint::Checkpoint(c)
    }
}

impl fmt::Display for StopPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopPoint::Checkpoint(c) => write!(f, "{c}"),
            StopPoint::Line { file, line } => write!(f, "line:{file}:{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        for text in ["mem-init", "end-of-boot", "line:arch/arm64/mm/init.c:386"] {
            assert_eq!(StopPoint::parse(text).unwrap().to_string(), text);
        }
        assert!(StopPoint::parse("line:init.c").unwrap_err().to_string().contains("line:FILE:LINE"));
        assert!(StopPoint::parse("end-of-boat").unwrap_err().to_string().contains("unknown checkpoint"));
    }
}
