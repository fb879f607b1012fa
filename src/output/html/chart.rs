//! Hand-written SVG charts: periods along x (lines, bars and stacked bars), and
//! horizontal bars.

use std::fmt::{self, Write};

use super::text::{escape, thousands};

// Okabe–Ito colours: told apart with every common colour-vision deficiency.
pub const BLUE: &str = "#0072b2";
pub const ORANGE: &str = "#e69f00";
pub const GREEN: &str = "#009e73";
pub const VERMILLION: &str = "#d55e00";
pub const SKY: &str = "#56b4e9";

// A chart's frame is about the size it is shown at, so its text stays the size of the
// page's small print rather than scaling with the chart.

const PLOT_LEFT: f64 = 56.0;
const PLOT_RIGHT: f64 = 14.0;
const PLOT_TOP: f64 = 12.0;
const PLOT_BOTTOM: f64 = 30.0;

/// Past this many periods a line has no point markers: they would touch.
const MAX_MARKED_POINTS: usize = 120;

/// What names a chart on the page: its element id, its accessible label, its size and
/// what its values count.
pub struct Figure<'a> {
    pub id: &'a str,
    pub label: &'a str,
    pub size: Size,
    pub unit: Unit,
}

/// What a chart's values are.
#[derive(Clone, Copy)]
pub enum Unit {
    /// Users, rows: shown with thousands separators.
    Count,
    /// Rates in hundredths of a percent (`10_000` is 100%), so the axis stays integral.
    Percent,
}

impl Unit {
    fn format(self, value: i64) -> String {
        match self {
            Unit::Count => thousands(value),
            Unit::Percent => format!("{:.1}%", value as f64 / 100.0),
        }
    }

    fn tick(self, value: i64) -> String {
        match self {
            Unit::Count => thousands(value),
            Unit::Percent => format!("{}%", value / 100),
        }
    }
}

/// A rate as a chart value of [`Unit::Percent`].
pub fn hundredths_of_percent(rate: f64) -> i64 {
    (rate * 10_000.0).round() as i64
}

/// One period along x: its label under the axis, what its tooltips call it, and whether
/// it was over at as_of.
pub struct Period {
    label: String,
    tooltip: String,
    complete: bool,
}

impl Period {
    pub fn new(label: impl Into<String>, complete: bool) -> Self {
        let label = label.into();
        Period {
            tooltip: label.clone(),
            label,
            complete,
        }
    }

    /// A longer name for tooltips than the axis has room for.
    pub fn with_tooltip(mut self, tooltip: impl Into<String>) -> Self {
        self.tooltip = tooltip.into();
        self
    }
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

    /// How many period labels fit under the axis without touching.
    fn labels(self) -> usize {
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

/// One line (or the bars) of a chart: one value per period.
pub struct Series<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub colour: &'static str,
    pub marker: Marker,
    pub values: Vec<i64>,
}

/// A y-axis from a round bottom (zero, or below it for values drawn downwards) to a
/// round top in round steps, so gridlines read as numbers people would say.
struct Axis {
    bottom: i64,
    top: i64,
    step: i64,
}

impl Axis {
    fn for_max(max: i64) -> Axis {
        Axis::for_range(0, max)
    }

    /// An axis covering `min..=max`, with `min <= 0`.
    fn for_range(min: i64, max: i64) -> Axis {
        let (min, max) = (min.min(0), max.max(0));
        let span = max.saturating_sub(min);
        if span <= 0 {
            return Axis {
                bottom: 0,
                top: 4,
                step: 1,
            };
        }
        let rough = ceil_div(span, 4);
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
            bottom: -ceil_div(min.saturating_neg(), step).saturating_mul(step),
            top: ceil_div(max, step).saturating_mul(step),
            step,
        }
    }

    fn ticks(&self) -> impl Iterator<Item = i64> + '_ {
        (self.bottom / self.step..=self.top / self.step).map(|i| i * self.step)
    }
}

/// `a / b` rounded up, for `a >= 0` and `b > 0`.
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

/// Where the periods and values of one chart land in its frame.
struct Frame {
    size: Size,
    periods: usize,
    axis: Axis,
}

impl Frame {
    fn new(size: Size, periods: usize, axis: Axis) -> Self {
        Frame {
            size,
            periods,
            axis,
        }
    }

    fn band(&self) -> f64 {
        (self.size.width() - PLOT_LEFT - PLOT_RIGHT) / self.periods.max(1) as f64
    }

    /// The centre of period `i`'s band: lines and bars share it.
    fn x(&self, i: usize) -> f64 {
        PLOT_LEFT + (i as f64 + 0.5) * self.band()
    }

    fn y(&self, value: i64) -> f64 {
        let bottom = self.size.height() - PLOT_BOTTOM;
        let span = (self.axis.top - self.axis.bottom).max(1) as f64;
        bottom - (bottom - PLOT_TOP) * (value - self.axis.bottom) as f64 / span
    }
}

/// Opens the chart's `<svg>` and draws its gridlines and axis labels. Ticks below zero
/// are labelled by their size: they count what is drawn downwards.
fn open_chart(
    out: &mut String,
    figure: &Figure<'_>,
    frame: &Frame,
    periods: &[Period],
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
            "<line class=\"grid{}\" x1=\"{PLOT_LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"ytick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            if tick == 0 && frame.axis.bottom < 0 {
                " zero"
            } else {
                ""
            },
            width - PLOT_RIGHT,
            PLOT_LEFT - 8.0,
            y + 4.0,
            figure.unit.tick(tick.abs())
        )?;
    }
    // Every n-th period only, evenly spaced, so labels never overlap.
    let every = periods.len().div_ceil(frame.size.labels()).max(1);
    for (i, period) in periods
        .iter()
        .enumerate()
        .filter(|(i, _)| i.is_multiple_of(every))
    {
        write!(
            out,
            "<text class=\"xtick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            frame.x(i),
            height - 10.0,
            escape(&period.label)
        )?;
    }
    Ok(())
}

/// A period as a point's tooltip names it.
fn period_label(period: &Period) -> String {
    if period.complete {
        escape(&period.tooltip)
    } else {
        format!("{} (not over at as_of)", escape(&period.tooltip))
    }
}

/// One line per series over the periods, on one shared axis from zero.
pub fn write_line_chart(
    out: &mut String,
    figure: &Figure<'_>,
    periods: &[Period],
    series: &[Series<'_>],
) -> fmt::Result {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter())
        .copied()
        .max()
        .unwrap_or(0);
    let frame = Frame::new(figure.size, periods.len(), Axis::for_max(max));
    open_chart(out, figure, &frame, periods)?;
    for s in series {
        let points: Vec<Point> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| (frame.x(i), frame.y(*v)))
            .collect();
        let (solid, dashed) = split_at_partial(&points, periods);
        write_path(out, s, solid, "line")?;
        write_path(out, s, dashed, "line partial")?;
        if periods.len() > MAX_MARKED_POINTS {
            continue;
        }
        for (((x, y), period), value) in points.iter().zip(periods).zip(&s.values) {
            write_marker(out, s, *x, *y, period.complete)?;
            write!(
                out,
                "<title>{}: {} {}</title></g>",
                period_label(period),
                figure.unit.format(*value),
                escape(s.name)
            )?;
        }
    }
    writeln!(out, "</svg>")
}

/// Splits a line where the periods not over at as_of start (they come last): that part
/// is dashed. The point between the two parts belongs to both, so the line stays unbroken.
fn split_at_partial<'p>(points: &'p [Point], periods: &[Period]) -> (&'p [Point], &'p [Point]) {
    match periods.iter().rposition(|p| p.complete) {
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

/// One bar per period; a period not over at as_of is drawn lighter.
pub fn write_bar_chart(
    out: &mut String,
    figure: &Figure<'_>,
    periods: &[Period],
    series: &Series<'_>,
) -> fmt::Result {
    write_stacked_bars(out, figure, periods, std::slice::from_ref(series), None)
}

/// Bars of `up` stacked upwards from zero and, if given, `down` drawn below the axis
/// (a positive count drawn downwards), one stack per period.
pub fn write_stacked_bars(
    out: &mut String,
    figure: &Figure<'_>,
    periods: &[Period],
    up: &[Series<'_>],
    down: Option<&Series<'_>>,
) -> fmt::Result {
    let height_of = |i: usize| -> i64 {
        up.iter()
            .filter_map(|s| s.values.get(i))
            .fold(0i64, |acc, v| acc.saturating_add(*v))
    };
    let max = (0..periods.len()).map(height_of).max().unwrap_or(0);
    let min = down
        .and_then(|d| d.values.iter().copied().max())
        .map_or(0, i64::saturating_neg);
    let frame = Frame::new(figure.size, periods.len(), Axis::for_range(min, max));
    open_chart(out, figure, &frame, periods)?;
    let width = (frame.band() * 0.7).max(1.0);
    for (i, period) in periods.iter().enumerate() {
        let x = frame.x(i) - width / 2.0;
        let partial = if period.complete { "" } else { " partial" };
        let mut base = 0i64;
        let downwards = down.map(|d| (d, true));
        for (series, below) in up.iter().map(|s| (s, false)).chain(downwards) {
            let value = series.values.get(i).copied().unwrap_or(0);
            let (from, to) = if below {
                (0, value.saturating_neg())
            } else {
                let from = base;
                base = base.saturating_add(value);
                (from, base)
            };
            let (y_from, y_to) = (frame.y(from), frame.y(to));
            write!(
                out,
                "<rect class=\"bar {}{partial}\" fill=\"{}\" x=\"{x:.1}\" y=\"{:.1}\" \
                 width=\"{width:.1}\" height=\"{:.1}\"><title>{}: {} {}</title></rect>",
                series.id,
                series.colour,
                y_from.min(y_to),
                (y_from - y_to).abs(),
                period_label(period),
                figure.unit.format(value),
                escape(series.name)
            )?;
        }
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

/// An HTML legend of colour swatches, for bars.
pub fn write_swatches(out: &mut String, series: &[&Series<'_>]) -> fmt::Result {
    out.push_str("<ul class=\"legend\">");
    for s in series {
        write!(
            out,
            "<li><svg viewBox=\"0 0 12 12\" class=\"swatch\" aria-hidden=\"true\">\
             <rect width=\"12\" height=\"12\" fill=\"{}\"/></svg>{}</li>",
            s.colour,
            escape(s.name)
        )?;
    }
    writeln!(out, "</ul>")
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
            assert_eq!(
                (axis.bottom, axis.top, axis.step),
                (0, top, step),
                "max {max}"
            );
        }
    }

    #[test]
    fn axis_below_zero_is_round_too() {
        for (min, max, bottom, top, step) in [(-3, 7, -5, 10, 5), (-40, 160, -50, 200, 50)] {
            let axis = Axis::for_range(min, max);
            assert_eq!((axis.bottom, axis.top, axis.step), (bottom, top, step));
            assert!(axis.ticks().any(|t| t == 0));
        }
    }
}
