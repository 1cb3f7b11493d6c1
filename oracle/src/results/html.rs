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
    let data = serde_json::to_string(r).expect("results serialise");
    page_with_data(&data, &title(r))
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
