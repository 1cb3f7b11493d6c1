//! Feeds the EL2 monitor's event-log region (header and records, as the host reads it
//! out of guest RAM) to `MonitorLog::read_with` and `LogView::parse`, then turns the
//! records into events, lines for people and the RIPAS report: errors for a bad log,
//! never a panic or an allocation of what the header claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linux_harness::monitor::MonitorLog;
use lmo_monitor::eventlog::LogView;
use oracle::linux_side::monitor_log::{describe, MonitorEvents};
use rust_impl::linear_map::LinearMap;

fuzz_target!(|data: &[u8]| {
    let log = MonitorLog::read_with(|offset, buf| {
        let at = usize::try_from(offset).map_err(|_| std::io::ErrorKind::UnexpectedEof)?;
        let src = data.get(at..).and_then(|d| d.get(..buf.len())).ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    });
    if let Ok(view) = log.as_ref().map(MonitorLog::view) {
        let _ = view.map(|v| events(&v));
    }
    if let Ok(view) = LogView::parse(data) {
        events(&view);
    }
});

fn events(view: &LogView) {
    let events = MonitorEvents::from_view(view);
    for r in &events.records {
        let _ = describe(r);
    }
    let _ = events.before(events.records.len() as u32 / 2).empty_ranges();
    let _ = oracle::report::monitor::report(&events, &LinearMap::default(), true);
}
