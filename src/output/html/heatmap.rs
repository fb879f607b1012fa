//! The cohort retention heatmap: an HTML table, so it scrolls with sticky headings on
//! screen and breaks across pages with repeated headings on paper, which one large SVG
//! cannot do.

use std::fmt::{self, Write};

use super::data::Cohort;
use super::text::{escape, percent, thousands};

// Rates are coloured on a sequential scale ordered by lightness, so it survives
// colour-vision deficiency and greyscale printing.

/// ColorBrewer's YlGnBu (colour-blind safe), light to dark. A retention table is mostly
/// low rates; starting near white keeps those cells quiet, lets the high ones stand out,
/// and spares ink on paper, where viridis would fill the page with dark purple.
const SEQUENTIAL: [[u8; 3]; 9] = [
    [0xff, 0xff, 0xd9],
    [0xed, 0xf8, 0xb1],
    [0xc7, 0xe9, 0xb4],
    [0x7f, 0xcd, 0xbb],
    [0x41, 0xb6, 0xc4],
    [0x1d, 0x91, 0xc0],
    [0x22, 0x5e, 0xa8],
    [0x25, 0x34, 0x94],
    [0x08, 0x1d, 0x58],
];

/// The colour of a rate `t` in 0..=1, interpolated between the scale's samples.
fn rate_colour(t: f64) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let scaled = t * (SEQUENTIAL.len() - 1) as f64;
    let low = (scaled.floor() as usize).min(SEQUENTIAL.len() - 2);
    let f = scaled - low as f64;
    let (a, b) = (SEQUENTIAL[low], SEQUENTIAL[low + 1]);
    let mix = |i: usize| (f64::from(a[i]) + (f64::from(b[i]) - f64::from(a[i])) * f).round() as u8;
    [mix(0), mix(1), mix(2)]
}

fn hex_colour([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Whether white text reads better than black on `colour`: the WCAG contrast crossover,
/// with gamma 2 instead of the sRGB curve so the choice is the same on every platform.
fn needs_light_text([r, g, b]: [u8; 3]) -> bool {
    let linear = |c: u8| (f64::from(c) / 255.0).powi(2);
    let luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    (1.05 / (luminance + 0.05)) > ((luminance + 0.05) / 0.05)
}

/// Which cohorts a heatmap shows: signup weeks or signup months.
#[derive(Clone, Copy)]
pub enum Period {
    Week,
    Month,
}

impl Period {
    fn name(self) -> &'static str {
        match self {
            Period::Week => "week",
            Period::Month => "month",
        }
    }
}

/// The weekly cohort heatmap (`cohort_retention.csv`).
pub fn write_retention(out: &mut String, cohorts: &[Cohort]) -> fmt::Result {
    writeln!(out, "<section id=\"retention\">\n<h2>Cohort retention</h2>")?;
    writeln!(
        out,
        "<p class=\"note\">Each row is a signup week (cohort) and its number of users; \
         each column a week since signup. A cell is the share of the cohort that engaged \
         in that week, in percent. Hatched cells are weeks not over at as_of. Hover a \
         cell for the counts (<code>cohort_retention.csv</code>).</p>"
    )?;
    write_heatmap(out, "retention-heatmap", cohorts, Period::Week)?;
    writeln!(out, "</section>")
}

/// A heatmap of `cohorts` by `period`, with its colour legend.
pub fn write_heatmap(
    out: &mut String,
    id: &str,
    cohorts: &[Cohort],
    period: Period,
) -> fmt::Result {
    write_heat_legend(out, period)?;
    let columns = cohorts
        .iter()
        .filter_map(|c| c.cells.keys().next_back())
        .max()
        .map_or(0, |last| last.saturating_add(1));
    if cohorts.is_empty() {
        return writeln!(out, "<p class=\"empty\">No cohorts.</p>");
    }
    // On paper the table spans the page's width, so more weeks need a smaller font.
    let density = match columns {
        ..=26 => "",
        27..=52 => " weeks-many",
        _ => " weeks-most",
    };
    writeln!(
        out,
        "<div class=\"scroll\">\n<table id=\"{id}\" class=\"heatmap{density}\">"
    )?;
    out.push_str("<thead><tr><th class=\"cohort\" scope=\"col\">Cohort</th>");
    out.push_str("<th class=\"size\" scope=\"col\">Users</th>");
    for offset in 0..columns {
        write!(out, "<th scope=\"col\">{offset}</th>")?;
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for cohort in cohorts {
        write!(
            out,
            "<tr><th class=\"cohort\" scope=\"row\">{}</th><th class=\"size\">{}</th>",
            escape(&cohort.label),
            thousands(cohort.size)
        )?;
        for offset in 0..columns {
            write_heat_cell(out, cohort, offset, period)?;
        }
        out.push_str("</tr>\n");
    }
    writeln!(out, "</tbody>\n</table>\n</div>")
}

fn write_heat_cell(out: &mut String, cohort: &Cohort, offset: i64, period: Period) -> fmt::Result {
    let Some(cell) = cohort.cells.get(&offset) else {
        out.push_str("<td></td>");
        return Ok(());
    };
    let title = format!(
        "{} cohort, {} {offset}: {} of {} users ({}){}",
        escape(&cohort.label),
        period.name(),
        thousands(cell.retained),
        thousands(cohort.size),
        percent(cell.rate),
        if cell.complete {
            String::new()
        } else {
            format!(", {} not over at as_of", period.name())
        },
    );
    // An empty cohort (a week nobody signed up in) has no rate to colour.
    let Some(rate) = cell.rate.filter(|r| r.is_finite()) else {
        return write!(out, "<td class=\"na\" title=\"{title}\">–</td>");
    };
    let colour = rate_colour(rate);
    let classes: Vec<&str> = [
        (needs_light_text(colour), "dark"),
        (cell.retained == 0, "zero"),
        (!cell.complete, "partial"),
    ]
    .into_iter()
    .filter_map(|(on, class)| on.then_some(class))
    .collect();
    out.push_str("<td");
    if !classes.is_empty() {
        write!(out, " class=\"{}\"", classes.join(" "))?;
    }
    write!(
        out,
        " style=\"background-color:{}\" title=\"{title}\">{:.0}</td>",
        hex_colour(colour),
        rate * 100.0
    )
}

fn write_heat_legend(out: &mut String, period: Period) -> fmt::Result {
    out.push_str("<div class=\"legend heat-legend\"><span>0%</span>");
    out.push_str(
        "<svg viewBox=\"0 0 200 12\" class=\"ramp\" aria-hidden=\"true\" \
         preserveAspectRatio=\"none\">",
    );
    // Fifty flat steps rather than a gradient: prints identically in every PDF engine.
    for i in 0..50 {
        write!(
            out,
            "<rect x=\"{}\" y=\"0\" width=\"4.5\" height=\"12\" fill=\"{}\"/>",
            i * 4,
            hex_colour(rate_colour(f64::from(i) / 49.0))
        )?;
    }
    out.push_str("</svg><span>100%</span>");
    writeln!(
        out,
        "<span class=\"swatch partial\" aria-hidden=\"true\"></span><span>{} not over \
         at as_of</span></div>",
        period.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_run_light_to_dark_with_readable_text() {
        assert_eq!(hex_colour(rate_colour(0.0)), "#ffffd9");
        assert_eq!(hex_colour(rate_colour(1.0)), "#081d58");
        assert_eq!(rate_colour(-1.0), rate_colour(0.0));
        assert_eq!(rate_colour(f64::NAN), rate_colour(0.0));
        assert!(!needs_light_text(rate_colour(0.0)));
        assert!(needs_light_text(rate_colour(1.0)));
    }
}
