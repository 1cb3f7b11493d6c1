//! `index.html`: one static page, everything inline (no server, no network): the verdict
//! table, and per scenario a picture of the linear map at each checkpoint (Linux above
//! the model, coloured by leaf size, shared and invalid ranges marked, divergent ranges
//! highlighted; hovering shows both sides' lines), the call trace, the monitor's
//! findings and the kernel's WARNs folded. The page draws itself from the results data
//! embedded in it (`page.js`).

use super::Results;

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// The page for `r`.
pub fn page(r: &Results) -> String {
    let mut data = serde_json::to_value(r).expect("results serialise");
    for s in data["scenarios"].as_array_mut().into_iter().flatten() {
        for c in s["checkpoints"].as_array_mut().into_iter().flatten() {
            let (linux, model) = (c["linux"].take(), c["model"].take());
            c["map"] = columns(&linux, &model);
        }
    }
    page_with_data(&data.to_string(), &title(r))
}

/// Both sides' lines in the page's compact form: a million unmergeable leaves must
/// load quickly. Addresses become 4 KiB units from the lowest start of either side
/// (`lo`), each line a gap from the previous line's end (`g`, mostly 0), a length (`n`),
/// a PA step from where the previous line's PA run would continue (`d`, mostly 0), and
/// indices into tables of leaf kinds (`k`) and attribute texts (`a`, shared included).
fn columns(linux: &serde_json::Value, model: &serde_json::Value) -> serde_json::Value {
    use serde_json::json;
    const UNIT: u64 = 4096;
    let hex = |v: &serde_json::Value| v.as_str().and_then(|t| u64::from_str_radix(t.trim_start_matches("0x"), 16).ok()).unwrap_or(0);
    let sides = [linux.as_array().cloned().unwrap_or_default(), model.as_array().cloned().unwrap_or_default()];
    let lo = sides.iter().flatten().map(|l| hex(&l[0])).min().unwrap_or(0);
    let hi = sides.iter().flatten().map(|l| hex(&l[1])).max().unwrap_or(0);
    let (mut kinds, mut attrs): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let index = |table: &mut Vec<String>, t: String| table.iter().position(|x| *x == t).unwrap_or_else(|| {
        table.push(t);
        table.len() - 1
    });
    let mut encoded = Vec::new();
    for side in &sides {
        let (mut g, mut n, mut d, mut k, mut a) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut end, mut pa_next) = (lo, 0i64);
        for l in side {
            // Signed steps: lines from a file of another tool need not be in order.
            let (start, stop, pa) = (hex(&l[0]) as i128, hex(&l[1]) as i128, hex(&l[4]) as i128);
            g.push(((start - end as i128) / UNIT as i128) as i64);
            n.push(((stop - start) / UNIT as i128) as i64);
            d.push(((pa - pa_next as i128) / UNIT as i128) as i64);
            let kind = format!("{}{}", l[2].as_str().unwrap_or(""), if l[3] == true { " CONT" } else { "" });
            k.push(index(&mut kinds, kind));
            let attr = format!("{}{}", l[5].as_str().unwrap_or(""), if l[6] == true { " shared" } else { "" });
            a.push(index(&mut attrs, attr));
            end = stop as u64;
            pa_next = (pa + (stop - start)) as i64;
        }
        encoded.push(json!({"g": g, "n": n, "d": d, "k": k, "a": a}));
    }
    let [l, m]: [serde_json::Value; 2] = encoded.try_into().expect("two sides");
    json!({"lo": format!("{lo:#x}"), "units": (hi.saturating_sub(lo)) / UNIT, "kinds": kinds, "attrs": attrs, "linux": l, "model": m})
}

fn title(r: &Results) -> String {
    let bad = r.scenarios.iter().filter(|s| !s.as_expected).count();
    format!("linear-map oracle: {} scenario(s), {bad} not as expected", r.scenarios.len())
}

/// The page around already-serialised results (the benchmark feeds large ones).
pub fn page_with_data(data: &str, title: &str) -> String {
    // Inside <script>, only `</` can end the element early; JSON allows `<\/`.
    let data = data.replace("</", "<\\/");
    let title = escape(title);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n<div id=\"summary\"></div>\n<div id=\"scenarios\"></div>\n<div id=\"tip\" hidden></div>\n<script type=\"application/json\" id=\"results\">{data}</script>\n<script>\n{SCRIPT}</script>\n</body>\n</html>\n"
    )
}

/// Text for HTML element content.
fn escape(t: &str) -> String {
    t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
