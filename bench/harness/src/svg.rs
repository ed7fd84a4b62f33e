//! Two small SVG charts, drawn by hand (no plotting dependency, no fonts to
//! load: text is SVG text): grouped horizontal bars and lines.

use std::fmt::Write;

/// A series' colour, by runtime id: hz engines in blues and greens, peers
/// in warm colours.
pub(crate) fn colour(id: &str) -> &'static str {
    match id {
        "hz-quickjs" => "#1f77b4",
        "hz-v8" => "#2ca02c",
        "hz-boa" => "#17becf",
        "node" => "#7f7f7f",
        "deno" => "#ff7f0e",
        "bun" => "#d62728",
        "transfer" => "#1f77b4",
        _ => "#9467bd",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A figure for an axis label: 3 significant digits, thousands as k/M.
pub(crate) fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
}

struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    fn new(values: impl Iterator<Item = f64> + Clone, log: bool, zero: bool) -> Axis {
        let positive = values.filter(|v| v.is_finite() && (!log || *v > 0.0));
        let lo = positive.clone().fold(f64::INFINITY, f64::min);
        let hi = positive.fold(f64::NEG_INFINITY, f64::max);
        if !lo.is_finite() {
            return Axis { lo: if log { 1.0 } else { 0.0 }, hi: 10.0, log };
        }
        if log {
            let lo = 10f64.powf(lo.log10().floor());
            let hi = 10f64.powf(hi.log10().ceil()).max(lo * 10.0);
            Axis { lo, hi, log }
        } else {
            let lo = if zero { 0.0 } else { lo };
            let step = nice_step((hi - lo).max(1e-9) / 5.0);
            Axis { lo: (lo / step).floor() * step, hi: ((hi / step).ceil() * step).max(lo + step), log }
        }
    }

    /// Position in [0, 1].
    fn at(&self, v: f64) -> f64 {
        if self.log {
            (v.max(self.lo).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let mut t = Vec::new();
            let mut v = self.lo;
            while v <= self.hi * 1.0001 {
                t.push(v);
                v *= 10.0;
            }
            t
        } else {
            let step = nice_step((self.hi - self.lo) / 5.0);
            (0..=((self.hi - self.lo) / step).round() as usize).map(|i| self.lo + step * i as f64).collect()
        }
    }
}

fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    mag * if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    }
}

fn header(out: &mut String, w: f64, h: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="20" font-size="15" font-weight="bold" text-anchor="middle">{}</text>
"#,
        w / 2.0,
        esc(title)
    );
}

fn legend(out: &mut String, x: f64, y: f64, series: &[(String, String)]) {
    let mut cx = x;
    for (label, colour) in series {
        let _ = writeln!(
            out,
            r#"<rect x="{cx}" y="{}" width="12" height="12" fill="{colour}"/><text x="{}" y="{}">{}</text>"#,
            y - 10.0,
            cx + 16.0,
            y,
            esc(label)
        );
        cx += 30.0 + 7.0 * label.chars().count() as f64;
    }
}

/// One group of bars: a label and (series index, value) pairs; a missing
/// value is drawn as a note.
pub(crate) struct Group {
    pub(crate) label: String,
    pub(crate) bars: Vec<(usize, Option<f64>)>,
}

/// Grouped horizontal bars; `series` are (label, colour).
pub(crate) fn bars(title: &str, unit: &str, log: bool, series: &[(String, String)], groups: &[Group]) -> String {
    let (left, right, top, bar, gap) = (250.0, 80.0, 56.0, 13.0, 12.0);
    let width = 900.0;
    let rows: usize = groups.iter().map(|g| g.bars.len()).sum();
    let height = top + rows as f64 * bar + groups.len() as f64 * gap + 40.0;
    let axis = Axis::new(
        groups.iter().flat_map(|g| g.bars.iter().filter_map(|b| b.1)).collect::<Vec<_>>().into_iter(),
        log,
        true,
    );
    let plot = width - left - right;
    let mut out = String::new();
    header(&mut out, width, height, title);
    legend(&mut out, left, 42.0, series);
    let bottom = height - 28.0;
    for t in axis.ticks() {
        let x = left + axis.at(t) * plot;
        let _ = writeln!(
            out,
            r##"<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="#ddd"/><text x="{x}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            bottom + 14.0,
            fmt_num(t)
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">{}{}</text>"##,
        left + plot / 2.0,
        bottom + 27.0,
        esc(unit),
        if log { " (log scale)" } else { "" }
    );
    let mut y = top;
    for g in groups {
        let h = g.bars.len() as f64 * bar;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            left - 8.0,
            y + h / 2.0 + 4.0,
            esc(&g.label)
        );
        for (s, v) in &g.bars {
            match v {
                Some(v) => {
                    let w = (axis.at(*v) * plot).max(1.0);
                    let _ = writeln!(
                        out,
                        r#"<rect x="{left}" y="{y}" width="{w:.1}" height="{}" fill="{}"/><text x="{:.1}" y="{}" font-size="10">{}</text>"#,
                        bar - 2.0,
                        series[*s].1,
                        left + w + 4.0,
                        y + bar - 3.0,
                        fmt_num(*v)
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        r##"<text x="{}" y="{}" font-size="10" fill="#888">{}: did not run</text>"##,
                        left + 4.0,
                        y + bar - 3.0,
                        esc(&series[*s].0)
                    );
                }
            }
            y += bar;
        }
        y += gap;
    }
    out.push_str("</svg>\n");
    out
}

/// A line series: label, colour, dashed, points.
pub(crate) struct Line {
    pub(crate) label: String,
    pub(crate) colour: String,
    pub(crate) dashed: bool,
    pub(crate) points: Vec<(f64, f64)>,
}

/// Lines on x/y axes; `log` = (x, y).
pub(crate) fn lines(title: &str, x_label: &str, y_label: &str, log: (bool, bool), lines: &[Line]) -> String {
    let (width, height) = (900.0, 480.0);
    let (left, right, top, bottom) = (70.0, 30.0, 50.0 + 18.0 * (lines.len() as f64 / 4.0).ceil(), height - 50.0);
    let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)).collect::<Vec<_>>();
    let ys = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).collect::<Vec<_>>();
    let xa = Axis::new(xs.into_iter(), log.0, false);
    let ya = Axis::new(ys.into_iter(), log.1, !log.1);
    let (pw, ph) = (width - left - right, bottom - top);
    let px = |x: f64| left + xa.at(x) * pw;
    let py = |y: f64| bottom - ya.at(y) * ph;
    let mut out = String::new();
    header(&mut out, width, height, title);
    for (i, chunk) in lines.chunks(4).enumerate() {
        let series: Vec<(String, String)> = chunk.iter().map(|l| (l.label.clone(), l.colour.clone())).collect();
        legend(&mut out, left, 42.0 + 18.0 * i as f64, &series);
    }
    for t in xa.ticks() {
        let x = px(t);
        let _ = writeln!(
            out,
            r##"<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="#ddd"/><text x="{x}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            bottom + 15.0,
            fmt_num(t)
        );
    }
    for t in ya.ticks() {
        let y = py(t);
        let _ = writeln!(
            out,
            r##"<line x1="{left}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end" fill="#555">{}</text>"##,
            left + pw,
            left - 6.0,
            y + 4.0,
            fmt_num(t)
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">{}</text><text transform="translate(16 {}) rotate(-90)" text-anchor="middle" fill="#555">{}</text>"##,
        left + pw / 2.0,
        height - 14.0,
        esc(x_label),
        top + ph / 2.0,
        esc(y_label)
    );
    for l in lines {
        let pts: Vec<String> = l.points.iter().map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect();
        let dash = if l.dashed { r#" stroke-dasharray="6 4""# } else { "" };
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            pts.join(" "),
            l.colour
        );
        for &(x, y) in &l.points {
            let _ = writeln!(out, r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#, px(x), py(y), l.colour);
        }
    }
    out.push_str("</svg>\n");
    out
}
