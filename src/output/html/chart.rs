//! Hand-written SVG charts: months along x (lines and bars), and horizontal bars.

use std::fmt::{self, Write};

use super::data::Month;
use super::text::{escape, thousands};

// Okabe–Ito colours: told apart with every common colour-vision deficiency.
pub const BLUE: &str = "#0072b2";
pub const ORANGE: &str = "#e69f00";
pub const GREEN: &str = "#009e73";
pub const VERMILLION: &str = "#d55e00";

// A chart's frame is about the size it is shown at, so its text stays the size of the
// page's small print rather than scaling with the chart.

const PLOT_LEFT: f64 = 56.0;
const PLOT_RIGHT: f64 = 14.0;
const PLOT_TOP: f64 = 12.0;
const PLOT_BOTTOM: f64 = 30.0;

/// What names a chart on the page: its element id, its accessible label and its size.
pub struct Figure<'a> {
    pub id: &'a str,
    pub label: &'a str,
    pub size: Size,
}

/// A point of a chart's frame: x, y.
type Point = (f64, f64);

/// A chart spans the page, or half of it beside another.
#[derive(Clone, Copy)]
pub enum Size {
    Wide,
    Half,
}

impl Size {
    fn width(self) -> f64 {
        match self {
            Size::Wide => 1040.0,
            Size::Half => 500.0,
        }
    }

    fn height(self) -> f64 {
        match self {
            Size::Wide => 300.0,
            Size::Half => 240.0,
        }
    }

    /// How many month labels fit under the axis without touching.
    fn month_labels(self) -> usize {
        match self {
            Size::Wide => 12,
            Size::Half => 6,
        }
    }
}

/// Point shapes, so series differ by more than colour.
#[derive(Clone, Copy)]
pub enum Marker {
    Circle,
    Square,
    Diamond,
}

/// One line (or the bars) of a monthly chart: one value per month.
pub struct Series<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub colour: &'static str,
    pub marker: Marker,
    pub values: Vec<i64>,
}

/// A y-axis from zero to a round top in four or five round steps, so gridlines read as
/// numbers people would say.
struct Axis {
    top: i64,
    step: i64,
}

impl Axis {
    fn for_max(max: i64) -> Axis {
        if max <= 0 {
            return Axis { top: 4, step: 1 };
        }
        let rough = ceil_div(max, 4);
        let mut magnitude: i64 = 1;
        while magnitude.saturating_mul(10) <= rough {
            magnitude = magnitude.saturating_mul(10);
        }
        let step = [1, 2, 5]
            .iter()
            .map(|m| magnitude.saturating_mul(*m))
            .find(|s| *s >= rough)
            .unwrap_or_else(|| magnitude.saturating_mul(10));
        Axis {
            top: ceil_div(max, step).saturating_mul(step),
            step,
        }
    }

    fn ticks(&self) -> impl Iterator<Item = i64> + '_ {
        (0..=self.top / self.step).map(|i| i * self.step)
    }
}

/// `a / b` rounded up, for positive `a` and `b`.
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

/// Where the months and values of one chart land in its frame.
struct Frame {
    size: Size,
    months: usize,
    axis: Axis,
}

impl Frame {
    fn new(size: Size, months: usize, max: i64) -> Self {
        Frame {
            size,
            months,
            axis: Axis::for_max(max),
        }
    }

    fn band(&self) -> f64 {
        (self.size.width() - PLOT_LEFT - PLOT_RIGHT) / self.months.max(1) as f64
    }

    /// The centre of month `i`'s band: lines and bars share it.
    fn x(&self, i: usize) -> f64 {
        PLOT_LEFT + (i as f64 + 0.5) * self.band()
    }

    fn y(&self, value: i64) -> f64 {
        let bottom = self.size.height() - PLOT_BOTTOM;
        bottom - (bottom - PLOT_TOP) * value as f64 / self.axis.top as f64
    }
}

/// Opens the chart's `<svg>` and draws its gridlines and axis labels.
fn open_chart(
    out: &mut String,
    figure: &Figure<'_>,
    frame: &Frame,
    months: &[Month],
) -> fmt::Result {
    let (width, height) = (frame.size.width(), frame.size.height());
    write!(
        out,
        "<svg id=\"{}\" class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"{}\">",
        escape(figure.id),
        escape(figure.label)
    )?;
    for tick in frame.axis.ticks() {
        let y = frame.y(tick);
        write!(
            out,
            "<line class=\"grid\" x1=\"{PLOT_LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"ytick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            width - PLOT_RIGHT,
            PLOT_LEFT - 8.0,
            y + 4.0,
            thousands(tick)
        )?;
    }
    // Every n-th month only, evenly spaced, so labels never overlap.
    let every = months.len().div_ceil(frame.size.month_labels()).max(1);
    for (i, month) in months
        .iter()
        .enumerate()
        .filter(|(i, _)| i.is_multiple_of(every))
    {
        write!(
            out,
            "<text class=\"xtick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            frame.x(i),
            height - 10.0,
            escape(&month.month)
        )?;
    }
    Ok(())
}

/// A month as a point's tooltip names it.
fn month_label(month: &Month) -> String {
    if month.complete {
        escape(&month.month)
    } else {
        format!("{} (not over at as_of)", escape(&month.month))
    }
}

/// One line per series over the months, on one shared axis from zero.
pub fn write_line_chart(
    out: &mut String,
    figure: &Figure<'_>,
    months: &[Month],
    series: &[Series<'_>],
) -> fmt::Result {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter())
        .copied()
        .max()
        .unwrap_or(0);
    let frame = Frame::new(figure.size, months.len(), max);
    open_chart(out, figure, &frame, months)?;
    for s in series {
        let points: Vec<Point> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| (frame.x(i), frame.y(*v)))
            .collect();
        let (solid, dashed) = split_at_partial(&points, months);
        write_path(out, s, solid, "line")?;
        write_path(out, s, dashed, "line partial")?;
        for (((x, y), month), value) in points.iter().zip(months).zip(&s.values) {
            write_marker(out, s, *x, *y, month.complete)?;
            write!(
                out,
                "<title>{}: {} {}</title></g>",
                month_label(month),
                thousands(*value),
                escape(s.name)
            )?;
        }
    }
    writeln!(out, "</svg>")
}

/// Splits a line where the months not over at as_of start (they come last): that part is
/// dashed. The point between the two parts belongs to both, so the line stays unbroken.
fn split_at_partial<'p>(points: &'p [Point], months: &[Month]) -> (&'p [Point], &'p [Point]) {
    match months.iter().rposition(|m| m.complete) {
        Some(last) if last < points.len() => (&points[..=last], &points[last..]),
        Some(_) => (points, &[]),
        None => (&[], points),
    }
}

fn write_path(out: &mut String, series: &Series<'_>, points: &[Point], class: &str) -> fmt::Result {
    if points.len() < 2 {
        return Ok(());
    }
    write!(
        out,
        "<path class=\"{class}\" stroke=\"{}\" d=\"",
        series.colour
    )?;
    for (i, (x, y)) in points.iter().enumerate() {
        write!(out, "{}{x:.1} {y:.1}", if i == 0 { "M" } else { " L" })?;
    }
    out.push_str("\"/>");
    Ok(())
}

/// Opens a `<g>` holding the point's shape; the caller adds its `<title>` and closes it.
fn write_marker(
    out: &mut String,
    series: &Series<'_>,
    x: f64,
    y: f64,
    complete: bool,
) -> fmt::Result {
    let fill = if complete { series.colour } else { "#fff" };
    write!(
        out,
        "<g class=\"point {}\" fill=\"{fill}\" stroke=\"{}\">",
        series.id, series.colour
    )?;
    match series.marker {
        Marker::Circle => write!(out, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\"/>"),
        Marker::Square => write!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"6.5\" height=\"6.5\"/>",
            x - 3.25,
            y - 3.25
        ),
        Marker::Diamond => write!(
            out,
            "<path d=\"M{x:.1} {:.1} L{:.1} {y:.1} L{x:.1} {:.1} L{:.1} {y:.1}Z\"/>",
            y - 4.5,
            x + 4.5,
            y + 4.5,
            x - 4.5
        ),
    }
}

/// One bar per month; a month not over at as_of is drawn lighter.
pub fn write_bar_chart(
    out: &mut String,
    figure: &Figure<'_>,
    months: &[Month],
    series: &Series<'_>,
) -> fmt::Result {
    let max = series.values.iter().copied().max().unwrap_or(0);
    let frame = Frame::new(figure.size, months.len(), max);
    open_chart(out, figure, &frame, months)?;
    let width = (frame.band() * 0.7).max(1.0);
    for (i, (month, value)) in months.iter().zip(&series.values).enumerate() {
        let (y, base) = (frame.y(*value), frame.y(0));
        write!(
            out,
            "<rect class=\"bar{}\" fill=\"{}\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" \
             height=\"{:.1}\"><title>{}: {} {}</title></rect>",
            if month.complete { "" } else { " partial" },
            series.colour,
            frame.x(i) - width / 2.0,
            base - y,
            month_label(month),
            thousands(*value),
            escape(series.name)
        )?;
    }
    writeln!(out, "</svg>")
}

/// An HTML legend: a short line with the series' marker, then its name.
pub fn write_legend(out: &mut String, series: &[Series<'_>], partial_note: &str) -> fmt::Result {
    out.push_str("<ul class=\"legend\">");
    for s in series {
        out.push_str("<li><svg viewBox=\"0 0 28 12\" aria-hidden=\"true\">");
        write!(
            out,
            "<path class=\"line\" stroke=\"{}\" d=\"M1 6 L27 6\"/>",
            s.colour
        )?;
        write_marker(out, s, 14.0, 6.0, true)?;
        write!(out, "</g></svg>{}</li>", escape(s.name))?;
    }
    writeln!(out, "<li class=\"muted\">{partial_note}</li></ul>")
}

// Horizontal bars: label column, longest bar, then room for the bar's text.
const BAR_LABEL_W: f64 = 150.0;
const BAR_W: f64 = 220.0;
const BAR_ROW: f64 = 26.0;

/// One horizontal bar: its label, its length as a share of the full width, and the text
/// printed after it.
pub struct Bar {
    pub label: String,
    pub share: f64,
    pub text: String,
    pub colour: &'static str,
}

/// Horizontal bars, labelled on the left, their text on the right.
pub fn write_bars(out: &mut String, id: &str, label: &str, bars: &[Bar]) -> fmt::Result {
    let height = BAR_ROW * bars.len().max(1) as f64 + 4.0;
    write!(
        out,
        "<svg id=\"{}\" class=\"chart bars\" viewBox=\"0 0 {} {height:.0}\" role=\"img\" \
         aria-label=\"{}\">",
        escape(id),
        BAR_LABEL_W + BAR_W + 140.0,
        escape(label)
    )?;
    for (i, bar) in bars.iter().enumerate() {
        let y = 2.0 + BAR_ROW * i as f64;
        let width = BAR_W * bar.share.clamp(0.0, 1.0);
        write!(
            out,
            "<g class=\"bar-row\"><title>{}: {}</title>\
             <text class=\"bar-label\" x=\"{:.1}\" y=\"{:.1}\">{}</text>\
             <rect fill=\"{}\" x=\"{BAR_LABEL_W}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.1}\"/>\
             <text class=\"bar-value\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            escape(&bar.label),
            escape(&bar.text),
            BAR_LABEL_W - 8.0,
            y + 16.0,
            escape(&bar.label),
            bar.colour,
            y + 3.0,
            BAR_ROW - 6.0,
            BAR_LABEL_W + width + 6.0,
            y + 16.0,
            escape(&bar.text)
        )?;
    }
    writeln!(out, "</svg>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_is_round_and_covers_the_maximum() {
        for (max, top, step) in [
            (0, 4, 1),
            (1, 1, 1),
            (7, 8, 2),
            (582, 600, 200),
            (2000, 2000, 500),
            (4833, 6000, 2000),
        ] {
            let axis = Axis::for_max(max);
            assert_eq!((axis.top, axis.step), (top, step), "max {max}");
        }
    }
}
