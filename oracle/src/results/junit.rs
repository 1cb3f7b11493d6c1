//! `junit.xml`: one testcase per scenario for any CI engine's test view; the failure text
//! is the scenario's divergence report.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use super::{text, Results};

/// The JUnit XML document of `r`.
pub fn junit(r: &Results) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let failures = r.scenarios.iter().filter(|s| !s.as_expected && !s.is_infrastructure_failure()).count();
    let errors = r.scenarios.iter().filter(|s| s.is_infrastructure_failure()).count();
    let skipped = r.scenarios.iter().filter(|s| s.is_not_run()).count().to_string();
    let (tests, failures, errors) = (r.scenarios.len().to_string(), failures.to_string(), errors.to_string());
    let time = format!("{:.3}", r.run.seconds);
    let write = |w: &mut Writer<Vec<u8>>, e: Event<'_>| w.write_event(e).expect("writing XML to memory");
    write(&mut w, Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let attrs = [("name", "linear-map-oracle"), ("tests", &tests), ("failures", &failures), ("errors", &errors), ("time", &time)];
    write(&mut w, Event::Start(BytesStart::new("testsuites").with_attributes(attrs)));
    let suite = format!("{}.linear-map", r.run.origin);
    write(&mut w, Event::Start(BytesStart::new("testsuite").with_attributes([("name", suite.as_str()), ("tests", &tests), ("failures", &failures), ("errors", &errors), ("skipped", &skipped), ("time", &time)])));
    for s in &r.scenarios {
        let time = format!("{:.3}", s.seconds);
        let case = BytesStart::new("testcase").with_attributes([("classname", suite.as_str()), ("name", s.scenario.as_str()), ("file", s.file.as_str()), ("time", time.as_str())]);
        if let Some(why) = &s.not_run {
            write(&mut w, Event::Start(case));
            write(&mut w, Event::Empty(BytesStart::new("skipped").with_attributes([("message", why.as_str())])));
            write(&mut w, Event::End(BytesEnd::new("testcase")));
            continue;
        }
        if s.as_expected {
            write(&mut w, Event::Empty(case));
            continue;
        }
        write(&mut w, Event::Start(case));
        let (tag, kind) = if s.is_infrastructure_failure() { ("error", "infrastructure") } else { ("failure", "divergence") };
        let message = s.verdict.clone();
        write(&mut w, Event::Start(BytesStart::new(tag).with_attributes([("message", message.as_str()), ("type", kind)])));
        write(&mut w, Event::Text(BytesText::new(&text::scenario(s, true))));
        write(&mut w, Event::End(BytesEnd::new(tag)));
        write(&mut w, Event::End(BytesEnd::new("testcase")));
    }
    write(&mut w, Event::End(BytesEnd::new("testsuite")));
    write(&mut w, Event::End(BytesEnd::new("testsuites")));
    let mut out = String::from_utf8(w.into_inner()).expect("XML written from strings");
    out.push('\n');
    out
}
