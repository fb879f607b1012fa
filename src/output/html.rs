//! The HTML report: one self-contained page for people who would rather look than read
//! CSV. It is rendered from the very batches the CSV files are written from, so every
//! number on it is in a CSV of the same report, or a plain sum of one of its columns.
//!
//! The page needs nothing but itself: inline CSS and SVG, no script, no fonts or images
//! to fetch, and a Content-Security-Policy that forbids any fetch should one creep in. It
//! states nothing about the run (no clock time, no host), so the same snapshot, filters
//! and version give the same bytes, as every other report file does.

mod chart;
mod data;
mod heatmap;
mod text;

use std::fmt::{self, Write};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

use crate::engine::session::{Filters, Session, TransactionsSource};
use crate::error::{Error, Result};
use crate::source::snapshot::AsOfSource;
use chart::{
    BLUE, Bar, Figure, GREEN, Marker, ORANGE, Period, SKY, Series, Size, Unit, VERMILLION,
    hundredths_of_percent,
};
use data::{Activation, Check, CurvePoint, Data, Day, LifecycleWeek, Month, Step, StickyMonth};
use text::{escape, percent, ratio, thousands};

/// The file name the report writes the page to.
pub const FILE: &str = "report.html";

/// What the page header states, so a reader can tie the page to its inputs.
#[derive(Debug, Clone)]
pub struct Header<'a> {
    pub snapshot_id: &'a str,
    pub as_of: DateTime<Utc>,
    pub as_of_source: AsOfSource,
    pub tz: &'a str,
    pub transactions_source: TransactionsSource,
    pub filters: &'a Filters,
    pub version: &'a str,
}

impl<'a> Header<'a> {
    /// The header of a report over `session` with `filters`: the facts the manifest pins.
    pub fn of(session: &'a Session, filters: &'a Filters) -> Self {
        let as_of = session.as_of();
        Header {
            snapshot_id: &session.snapshot().id,
            as_of: as_of.at,
            as_of_source: as_of.source,
            tz: session.options().tz.name(),
            transactions_source: session.transactions_source(),
            filters,
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// Renders the page from the report's metric results (name, schema, batches), as
/// `report::write` holds them.
pub fn render(
    header: &Header<'_>,
    results: &[(&str, SchemaRef, Vec<RecordBatch>)],
) -> Result<String> {
    let data = Data::read(results)?;
    let mut page = String::with_capacity(256 * 1024);
    write_page(&mut page, header, &data)
        .map_err(|_| Error::internal(FILE, "the page could not be formatted"))?;
    Ok(page)
}

// ---------------------------------------------------------------------------------------
// The page.

/// The page's only stylesheet, kept as CSS so it can be read and edited as such.
const STYLE: &str = include_str!("html/report.css");

fn write_page(out: &mut String, header: &Header<'_>, data: &Data) -> fmt::Result {
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // Nothing may be fetched: a stray reference fails, and shows as a console error.
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" \
         content=\"default-src 'none'; style-src 'unsafe-inline'\">\n",
    );
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    writeln!(
        out,
        "<title>snapmetrics report · snapshot {}</title>",
        escape(header.snapshot_id)
    )?;
    writeln!(out, "<style>\n{STYLE}</style>\n</head>\n<body>\n<main>")?;
    write_header(out, header)?;
    write_contents(out)?;
    write_summary(out, data)?;
    heatmap::write_retention(out, &data.cohorts)?;
    write_curve(out, &data.curve, &data.curve_on_or_after)?;
    write_monthly_retention(out, &data.monthly_cohorts)?;
    write_lifecycle(out, &data.lifecycle)?;
    write_active_users(out, &data.days)?;
    write_stickiness(out, &data.stickiness)?;
    write_users(out, &data.months)?;
    write_transactions(out, &data.months)?;
    write_monthly_table(out, &data.months)?;
    write_onboarding(out, &data.activation, &data.steps)?;
    write_quality(out, &data.checks)?;
    writeln!(
        out,
        "<footer><p>snapmetrics {} · snapshot {}. Every number on this page is in the CSV \
         files of the same report folder, or is a sum of one of their columns.</p></footer>",
        escape(header.version),
        escape(header.snapshot_id)
    )?;
    out.push_str("</main>\n</body>\n</html>\n");
    Ok(())
}

fn write_header(out: &mut String, header: &Header<'_>) -> fmt::Result {
    let as_of = header
        .as_of
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    writeln!(out, "<header id=\"report-header\" class=\"report\">")?;
    writeln!(out, "<p class=\"kicker\">snapmetrics report</p>")?;
    writeln!(out, "<h1>Snapshot {}</h1>", escape(header.snapshot_id))?;
    writeln!(out, "<dl class=\"facts\">")?;
    let source = match header.transactions_source {
        TransactionsSource::L1 => "<code>l1_transaction_facts</code>",
        TransactionsSource::Legacy => "<code>transactions</code> (legacy)",
    };
    let facts = [
        (
            "as_of",
            format!(
                "{} <span class=\"muted\">({})</span>",
                escape(&as_of),
                escape(&header.as_of_source.to_string())
            ),
        ),
        ("Time zone", escape(header.tz)),
        ("Transactions from", source.to_string()),
        ("Tool", format!("snapmetrics {}", escape(header.version))),
        ("Filters", filters(header.filters)),
    ];
    for (term, value) in facts {
        writeln!(out, "<div><dt>{term}</dt><dd>{value}</dd></div>")?;
    }
    writeln!(out, "</dl>\n</header>")
}

/// The filters in words, escaped: only those that narrow the report, and the engagement
/// events, which always shape retention.
fn filters(filters: &Filters) -> String {
    let mut parts = Vec::new();
    match (filters.from, filters.to) {
        (Some(from), Some(to)) => parts.push(format!("signups and months {from} to {to}")),
        (Some(from), None) => parts.push(format!("signups and months from {from}")),
        (None, Some(to)) => parts.push(format!("signups and months up to {to}")),
        (None, None) => {}
    }
    if filters.active_only {
        parts.push("active users only".to_string());
    }
    let events: Vec<String> = filters.event_types.iter().map(|e| escape(e)).collect();
    parts.push(format!("engagement events: {}", events.join(", ")));
    if let Some(bank) = &filters.bank {
        parts.push(format!("bank: {}", escape(bank)));
    }
    parts.join(" · ")
}

fn write_contents(out: &mut String) -> fmt::Result {
    writeln!(
        out,
        "<nav class=\"contents\" aria-label=\"Contents\">\
         <a href=\"#retention\">Retention</a>\
         <a href=\"#retention-curve\">Retention curve</a>\
         <a href=\"#monthly-retention\">Monthly cohorts</a>\
         <a href=\"#lifecycle\">Lifecycle</a>\
         <a href=\"#active-users\">Active users</a>\
         <a href=\"#stickiness\">Stickiness</a>\
         <a href=\"#users\">Users</a>\
         <a href=\"#transactions\">Transactions</a>\
         <a href=\"#monthly\">Monthly figures</a>\
         <a href=\"#onboarding\">Onboarding</a>\
         <a href=\"#data-quality\">Data quality</a></nav>"
    )
}

/// Headline figures, each taken as is from one row of a metric (or a column sum).
fn write_summary(out: &mut String, data: &Data) -> fmt::Result {
    let mut tiles: Vec<(String, String)> = Vec::new();
    if let Some(last) = data.months.last() {
        let when = if last.complete {
            format!("total users by the end of {}", escape(&last.month))
        } else {
            "total users at as_of".to_string()
        };
        tiles.push((thousands(last.total_users), when));
    }
    if let Some(full) = data.months.iter().rev().find(|m| m.complete) {
        tiles.push((
            thousands(full.mau),
            format!("monthly active users, {}", escape(&full.month)),
        ));
        tiles.push((
            thousands(full.new_users),
            format!("new users, {}", escape(&full.month)),
        ));
        tiles.push((
            thousands(full.transactions),
            format!("transactions, {}", escape(&full.month)),
        ));
    }
    let activation = &data.activation;
    tiles.push((
        percent(ratio(activation.completed, activation.users)),
        format!(
            "completed onboarding ({} of {} users)",
            thousands(activation.completed),
            thousands(activation.users)
        ),
    ));
    writeln!(
        out,
        "<section id=\"summary\" class=\"tiles\" aria-label=\"Summary\">"
    )?;
    for (value, label) in tiles {
        writeln!(
            out,
            "<div class=\"tile\"><div class=\"value\">{value}</div>\
             <div class=\"label\">{label}</div></div>"
        )?;
    }
    writeln!(out, "</section>")
}

fn column(months: &[Month], value: fn(&Month) -> i64) -> Vec<i64> {
    months.iter().map(value).collect()
}

fn month_periods(months: &[Month]) -> Vec<Period> {
    months
        .iter()
        .map(|m| Period::new(m.month.clone(), m.complete))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Activity: the retention curves, monthly cohorts, lifecycle, active users, stickiness.

fn write_curve(out: &mut String, curve: &[CurvePoint], on_or_after: &[CurvePoint]) -> fmt::Result {
    writeln!(
        out,
        "<section id=\"retention-curve\">\n<h2>Retention curve</h2>"
    )?;
    writeln!(
        out,
        "<p class=\"note\">Per week since signup, the share of users engaged in that week \
         (<code>retention_curve.csv</code>) and in that week or any later one (the same sums \
         over <code>cohort_retention_unbounded.csv</code>): all cohorts whose week was over \
         at as_of, weighted by their size.</p>"
    )?;
    if curve.is_empty() {
        return writeln!(
            out,
            "<p class=\"empty\">No week since signup is over yet.</p>\n</section>"
        );
    }
    let rates = |points: &[CurvePoint]| -> Vec<i64> {
        curve
            .iter()
            .map(|c| {
                points
                    .iter()
                    .find(|p| p.offset == c.offset)
                    .and_then(|p| ratio(p.retained, p.users))
                    .map_or(0, hundredths_of_percent)
            })
            .collect()
    };
    let series = [
        Series {
            id: "curve-on",
            name: "engaged in the week",
            colour: BLUE,
            marker: Marker::Circle,
            values: rates(curve),
        },
        Series {
            id: "curve-on-or-after",
            name: "engaged in the week or later",
            colour: ORANGE,
            marker: Marker::Square,
            values: rates(on_or_after),
        },
    ];
    chart::write_legend(out, &series, "weeks since signup along the axis")?;
    let periods: Vec<Period> = curve
        .iter()
        .map(|c| {
            Period::new(c.offset.to_string(), true).with_tooltip(format!(
                "week {} ({} cohorts)",
                c.offset,
                thousands(c.cohorts)
            ))
        })
        .collect();
    out.push_str("<figure>");
    let figure = Figure {
        id: "retention-curve-chart",
        label: "Retention by week since signup, in the week and on or after it",
        size: Size::Wide,
        unit: Unit::Percent,
    };
    chart::write_line_chart(out, &figure, &periods, &series)?;
    writeln!(out, "</figure>\n</section>")
}

fn write_monthly_retention(out: &mut String, cohorts: &[data::Cohort]) -> fmt::Result {
    writeln!(
        out,
        "<section id=\"monthly-retention\">\n<h2>Monthly cohorts</h2>"
    )?;
    writeln!(
        out,
        "<p class=\"note\">Each row is a signup month and its users; each column a month \
         since signup. A cell is the share of the cohort active in that month, in percent \
         (<code>cohort_retention_monthly.csv</code>).</p>"
    )?;
    heatmap::write_heatmap(
        out,
        "monthly-retention-heatmap",
        cohorts,
        heatmap::Period::Month,
    )?;
    writeln!(out, "</section>")
}

fn write_lifecycle(out: &mut String, weeks: &[LifecycleWeek]) -> fmt::Result {
    writeln!(
        out,
        "<section id=\"lifecycle\">\n<h2>Lifecycle per week</h2>"
    )?;
    writeln!(
        out,
        "<p class=\"note\">The week's active users as new (their first active week, even \
         when it is not their signup week), returning (active the week before too) and \
         resurrecting (back after a gap), stacked; below the axis, the users active the \
         week before who were not this week (dormant). Lighter bars: week not over at \
         as_of (<code>lifecycle_weekly.csv</code>).</p>"
    )?;
    let column = |value: fn(&LifecycleWeek) -> i64| weeks.iter().map(value).collect();
    let up = [
        Series {
            id: "lifecycle-new",
            name: "new",
            colour: GREEN,
            marker: Marker::Square,
            values: column(|w| w.new_users),
        },
        Series {
            id: "lifecycle-returning",
            name: "returning",
            colour: BLUE,
            marker: Marker::Square,
            values: column(|w| w.returning),
        },
        Series {
            id: "lifecycle-resurrecting",
            name: "resurrecting",
            colour: SKY,
            marker: Marker::Square,
            values: column(|w| w.resurrecting),
        },
    ];
    let dormant = Series {
        id: "lifecycle-dormant",
        name: "dormant",
        colour: VERMILLION,
        marker: Marker::Square,
        values: column(|w| w.dormant),
    };
    let legend: Vec<&Series<'_>> = up.iter().chain([&dormant]).collect();
    chart::write_swatches(out, &legend)?;
    let periods: Vec<Period> = weeks
        .iter()
        .map(|w| Period::new(w.week.clone(), w.complete))
        .collect();
    out.push_str("<figure>");
    let figure = Figure {
        id: "lifecycle-chart",
        label: "New, returning, resurrecting and dormant users per week",
        size: Size::Wide,
        unit: Unit::Count,
    };
    chart::write_stacked_bars(out, &figure, &periods, &up, Some(&dormant))?;
    writeln!(out, "</figure>\n</section>")
}

fn write_active_users(out: &mut String, days: &[Day]) -> fmt::Result {
    writeln!(
        out,
        "<section id=\"active-users\">\n<h2>Daily, weekly and monthly active users</h2>"
    )?;
    writeln!(
        out,
        "<p class=\"note\">Per date, users active on it (DAU), on any of the 7 days ending on \
         it (WAU) and on any of the 30 days ending on it (MAU, 30 days) \
         (<code>active_users_daily.csv</code>).</p>"
    )?;
    let column = |value: fn(&Day) -> i64| days.iter().map(value).collect();
    let series = [
        Series {
            id: "mau-30d",
            name: "MAU (30 days)",
            colour: BLUE,
            marker: Marker::Circle,
            values: column(|d| d.mau_30d),
        },
        Series {
            id: "wau",
            name: "WAU (7 days)",
            colour: ORANGE,
            marker: Marker::Square,
            values: column(|d| d.wau),
        },
        Series {
            id: "dau",
            name: "DAU",
            colour: GREEN,
            marker: Marker::Diamond,
            values: column(|d| d.dau),
        },
    ];
    chart::write_legend(out, &series, "dashed: date not over at as_of")?;
    let periods: Vec<Period> = days
        .iter()
        .map(|d| Period::new(d.date.clone(), d.complete))
        .collect();
    out.push_str("<figure>");
    let figure = Figure {
        id: "active-users-chart",
        label: "Daily, rolling weekly and rolling monthly active users",
        size: Size::Wide,
        unit: Unit::Count,
    };
    chart::write_line_chart(out, &figure, &periods, &series)?;
    writeln!(out, "</figure>\n</section>")
}

/// One histogram per month, the last complete one open: `<details>` shows the others
/// without a script.
fn write_stickiness(out: &mut String, months: &[StickyMonth]) -> fmt::Result {
    writeln!(out, "<section id=\"stickiness\">\n<h2>Stickiness</h2>")?;
    writeln!(
        out,
        "<p class=\"note\">Per month, how many users were active on exactly 1, 2, 3… of its \
         days (<code>stickiness_monthly.csv</code>). The last month that is over is open; \
         open any other below.</p>"
    )?;
    let open = months
        .iter()
        .rposition(|m| m.complete)
        .or(months.len().checked_sub(1));
    if months.is_empty() {
        return writeln!(out, "<p class=\"empty\">No months.</p>\n</section>");
    }
    for (i, month) in months.iter().enumerate().rev() {
        writeln!(
            out,
            "<details class=\"month\"{}><summary>{}{} · {} active users</summary>",
            if Some(i) == open { " open" } else { "" },
            escape(&month.month),
            if month.complete { "" } else { " (not over)" },
            thousands(month.active)
        )?;
        let periods: Vec<Period> = (1..=month.users.len())
            .map(|n| {
                let days = if n == 1 { "day" } else { "days" };
                Period::new(format!("{n} {days}"), month.complete)
            })
            .collect();
        let series = Series {
            id: "stickiness-users",
            name: "users",
            colour: BLUE,
            marker: Marker::Square,
            values: month.users.clone(),
        };
        let id = format!("stickiness-chart-{}", month.month);
        let label = format!("Users by days active in {}", month.month);
        let figure = Figure {
            id: &id,
            label: &label,
            size: Size::Wide,
            unit: Unit::Count,
        };
        out.push_str("<figure>");
        chart::write_bar_chart(out, &figure, &periods, &series)?;
        writeln!(out, "</figure>\n</details>")?;
    }
    writeln!(out, "</section>")
}

fn write_users(out: &mut String, months: &[Month]) -> fmt::Result {
    writeln!(out, "<section id=\"users\">\n<h2>Users per month</h2>")?;
    writeln!(
        out,
        "<p class=\"note\">Total users signed up by the end of each month, users who signed \
         up in it, and monthly active users (a login in the month).</p>"
    )?;
    let series = [
        Series {
            id: "total-users",
            name: "total users",
            colour: BLUE,
            marker: Marker::Circle,
            values: column(months, |m| m.total_users),
        },
        Series {
            id: "mau",
            name: "monthly active users",
            colour: ORANGE,
            marker: Marker::Square,
            values: column(months, |m| m.mau),
        },
        Series {
            id: "new-users",
            name: "new users",
            colour: GREEN,
            marker: Marker::Diamond,
            values: column(months, |m| m.new_users),
        },
    ];
    chart::write_legend(
        out,
        &series,
        "hollow points, dashed: month not over at as_of",
    )?;
    out.push_str("<figure>");
    let figure = Figure {
        id: "users-chart",
        label: "Total, monthly active and new users per month",
        size: Size::Wide,
        unit: Unit::Count,
    };
    chart::write_line_chart(out, &figure, &month_periods(months), &series)?;
    writeln!(out, "</figure>\n</section>")
}

fn write_transactions(out: &mut String, months: &[Month]) -> fmt::Result {
    writeln!(
        out,
        "<section id=\"transactions\">\n<h2>Transactions and banks per month</h2>"
    )?;
    writeln!(
        out,
        "<p class=\"note\">Transactions dated in each month and the distinct banks \
         (accounts) they came from. Lighter bars and hollow points: month not over at as_of.</p>"
    )?;
    let transactions = Series {
        id: "transactions",
        name: "transactions",
        colour: BLUE,
        marker: Marker::Square,
        values: column(months, |m| m.transactions),
    };
    let banks = Series {
        id: "unique-banks",
        name: "unique banks",
        colour: VERMILLION,
        marker: Marker::Circle,
        values: column(months, |m| m.unique_banks),
    };
    writeln!(out, "<div class=\"pair\">")?;
    writeln!(out, "<figure><figcaption>Transactions</figcaption>")?;
    let periods = month_periods(months);
    let figure = Figure {
        id: "transactions-chart",
        label: "Transactions per month",
        size: Size::Half,
        unit: Unit::Count,
    };
    chart::write_bar_chart(out, &figure, &periods, &transactions)?;
    writeln!(
        out,
        "</figure>\n<figure><figcaption>Unique banks</figcaption>"
    )?;
    let figure = Figure {
        id: "banks-chart",
        label: "Unique banks per month",
        size: Size::Half,
        unit: Unit::Count,
    };
    chart::write_line_chart(out, &figure, &periods, std::slice::from_ref(&banks))?;
    writeln!(out, "</figure>\n</div>\n</section>")
}

fn write_monthly_table(out: &mut String, months: &[Month]) -> fmt::Result {
    writeln!(
        out,
        "<section id=\"monthly\">\n<h2>Monthly figures</h2>\n\
         <p class=\"note\">The numbers behind the charts (<code>vanity_monthly.csv</code>).</p>"
    )?;
    writeln!(
        out,
        "<div class=\"table-wrap\"><table id=\"monthly-table\" class=\"data\">\n<thead><tr>\
         <th scope=\"col\">Month</th><th scope=\"col\">Total users</th>\
         <th scope=\"col\">New users</th><th scope=\"col\">MAU</th>\
         <th scope=\"col\">Transactions</th><th scope=\"col\">Unique banks</th>\
         <th scope=\"col\">Statement uploads</th></tr></thead>\n<tbody>"
    )?;
    for m in months {
        write!(
            out,
            "<tr{}><th scope=\"row\">{}{}</th>",
            if m.complete { "" } else { " class=\"partial\"" },
            escape(&m.month),
            if m.complete {
                ""
            } else {
                " <span class=\"muted\">(not over)</span>"
            }
        )?;
        for value in [
            m.total_users,
            m.new_users,
            m.mau,
            m.transactions,
            m.unique_banks,
            m.statement_uploads,
        ] {
            write!(out, "<td>{}</td>", thousands(value))?;
        }
        out.push_str("</tr>\n");
    }
    writeln!(out, "</tbody>\n</table></div>\n</section>")
}

// ---------------------------------------------------------------------------------------
// Onboarding: the funnel and where people leave it, over every cohort of the report.

fn write_onboarding(out: &mut String, activation: &Activation, steps: &[Step]) -> fmt::Result {
    writeln!(out, "<section id=\"onboarding\">\n<h2>Onboarding</h2>")?;
    writeln!(
        out,
        "<p class=\"note\">All cohorts of this report together (sums of \
         <code>activation.csv</code> and <code>onboarding_dropoff.csv</code>). The funnel \
         counts users who got at least this far; drop-off counts users who stopped at a \
         step: they finished the one before and never completed onboarding. Questionnaires \
         differ in length, so more users can complete onboarding than finish its last \
         steps.</p>"
    )?;
    writeln!(out, "<div class=\"pair\">")?;
    writeln!(
        out,
        "<figure><figcaption>Funnel: % of {} signed-up users</figcaption>",
        thousands(activation.users)
    )?;
    chart::write_bars(
        out,
        "funnel-chart",
        "Onboarding funnel",
        &funnel_bars(activation, steps),
    )?;
    writeln!(
        out,
        "</figure>\n<figure><figcaption>Drop-off: % of the users who got to the step\
         </figcaption>"
    )?;
    chart::write_bars(
        out,
        "dropoff-chart",
        "Onboarding drop-off by step",
        &dropoff_bars(activation, steps),
    )?;
    writeln!(out, "</figure>\n</div>\n</section>")
}

fn funnel_bars(activation: &Activation, steps: &[Step]) -> Vec<Bar> {
    let base = activation.users;
    let bar = |label: String, value: i64, colour| Bar {
        label,
        share: ratio(value, base).unwrap_or(0.0),
        text: format!("{} · {}", thousands(value), percent(ratio(value, base))),
        colour,
    };
    let mut bars = vec![
        bar("Signed up".to_string(), activation.users, BLUE),
        bar("Started onboarding".to_string(), activation.started, BLUE),
    ];
    for step in steps {
        bars.push(bar(
            format!("Finished step {}", step.step),
            step.reached,
            BLUE,
        ));
    }
    bars.push(bar(
        "Completed onboarding".to_string(),
        activation.completed,
        GREEN,
    ));
    bars
}

/// Users who stopped at each step, against those who got to it: users who finished the
/// step before (for step 1, everyone who started).
fn dropoff_bars(activation: &Activation, steps: &[Step]) -> Vec<Bar> {
    let longest = steps.iter().map(|s| s.dropped).max().unwrap_or(0);
    let mut got_there = activation.started;
    let mut bars = Vec::new();
    for step in steps {
        bars.push(Bar {
            label: format!("Left at step {}", step.step),
            share: ratio(step.dropped, longest).unwrap_or(0.0),
            text: format!(
                "{} · {} of {}",
                thousands(step.dropped),
                percent(ratio(step.dropped, got_there)),
                thousands(got_there)
            ),
            colour: VERMILLION,
        });
        got_there = step.reached;
    }
    bars
}

// ---------------------------------------------------------------------------------------
// Data quality.

fn write_quality(out: &mut String, checks: &[Check]) -> fmt::Result {
    writeln!(out, "<section id=\"data-quality\">\n<h2>Data quality</h2>")?;
    let excluded = checks
        .iter()
        .fold(0i64, |acc, c| acc.saturating_add(c.rows));
    let failing = checks.iter().filter(|c| c.rows != 0).count();
    let summary = match excluded {
        0 => format!(
            "All {} checks passed: no row was excluded from the metrics.",
            checks.len()
        ),
        1 => format!(
            "<strong>1 row</strong> was excluded from the metrics by 1 of {} checks \
             (highlighted).",
            checks.len()
        ),
        _ => format!(
            "<strong>{} rows</strong> were excluded from the metrics by {failing} of {} \
             checks (highlighted).",
            thousands(excluded),
            checks.len()
        ),
    };
    writeln!(
        out,
        "<p class=\"note\">{summary} Counts ignore filters (<code>data_quality.csv</code>).</p>"
    )?;
    writeln!(
        out,
        "<div class=\"table-wrap\"><table id=\"quality-table\" class=\"data\">\n<thead><tr>\
         <th scope=\"col\">Table</th><th scope=\"col\">Check</th>\
         <th scope=\"col\">Rows excluded</th></tr></thead>\n<tbody>"
    )?;
    for check in checks {
        writeln!(
            out,
            "<tr{}><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            if check.rows != 0 {
                " class=\"flag\""
            } else {
                ""
            },
            escape(&check.table),
            escape(&check.check),
            thousands(check.rows)
        )?;
    }
    writeln!(out, "</tbody>\n</table></div>\n</section>")
}
