//! The results table: measured value, baseline, ratio, goal, and by how much a goal is
//! missed.

use std::time::Duration;

use super::{fmt_duration, fmt_mb};

/// What a row must meet.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// measured / baseline ≥ this.
    RatioAtLeast(f64),
    /// measured / baseline ≤ this.
    RatioAtMost(f64),
    /// The measured duration is below this.
    Below(Duration),
    /// The measured size is below this many bytes.
    BelowBytes(u64),
    /// Context only.
    None,
}

/// The measured quantity, for absolute goals.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    Time(Duration),
    Bytes(u64),
    Rate(f64),
}

impl Value {
    fn show(self) -> String {
        match self {
            Value::Time(d) => fmt_duration(d),
            Value::Bytes(b) => fmt_mb(b),
            Value::Rate(r) => format!("{r:.0}/s"),
        }
    }

    fn number(self) -> f64 {
        match self {
            Value::Time(d) => d.as_secs_f64(),
            Value::Bytes(b) => b as f64,
            Value::Rate(r) => r,
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub measured: Value,
    pub baseline: Value,
    /// Extra words after the values (e.g. what the baseline is).
    pub note: String,
    pub goal: Goal,
}

impl Row {
    pub fn new(name: &str, measured: Value, baseline: Value, goal: Goal) -> Self {
        Self {
            name: name.to_owned(),
            measured,
            baseline,
            note: String::new(),
            goal,
        }
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }

    pub fn ratio(&self) -> f64 {
        let baseline = self.baseline.number();
        if baseline == 0.0 {
            return f64::NAN;
        }
        self.measured.number() / baseline
    }

    fn goal_text(&self) -> String {
        match self.goal {
            Goal::RatioAtLeast(g) => format!("ratio ≥ {g}"),
            Goal::RatioAtMost(g) => format!("ratio ≤ {g}"),
            Goal::Below(d) => format!("< {}", fmt_duration(d)),
            Goal::BelowBytes(b) => format!("< {}", fmt_mb(b)),
            Goal::None => "—".into(),
        }
    }

    /// Whether the goal is met; `None` for context rows.
    pub fn met(&self) -> Option<bool> {
        let ratio = self.ratio();
        match self.goal {
            Goal::RatioAtLeast(g) => Some(ratio >= g),
            Goal::RatioAtMost(g) => Some(ratio <= g),
            Goal::Below(d) => Some(self.measured.number() < d.as_secs_f64()),
            Goal::BelowBytes(b) => Some(self.measured.number() < b as f64),
            Goal::None => None,
        }
    }

    /// By how much the goal is missed, in words.
    pub fn missed_by(&self) -> Option<String> {
        if self.met() != Some(false) {
            return None;
        }
        let ratio = self.ratio();
        Some(match self.goal {
            Goal::RatioAtLeast(g) => format!(
                "ratio {} is {:.0}% short of {g}",
                ratio_text(ratio),
                (g - ratio) / g * 100.0
            ),
            Goal::RatioAtMost(g) => {
                format!(
                    "ratio {} is {:.2}x the allowed {g}",
                    ratio_text(ratio),
                    ratio / g
                )
            }
            Goal::Below(limit) => {
                let measured = self.measured.number();
                format!(
                    "{} is {:.2}x the {} limit (+{})",
                    self.measured.show(),
                    measured / limit.as_secs_f64(),
                    fmt_duration(limit),
                    fmt_duration(Duration::from_secs_f64(measured - limit.as_secs_f64()))
                )
            }
            Goal::BelowBytes(limit) => {
                let measured = self.measured.number();
                format!(
                    "{} is {:.2}x the {} limit",
                    self.measured.show(),
                    measured / limit as f64,
                    fmt_mb(limit)
                )
            }
            Goal::None => return None,
        })
    }
}

/// `ratio` with two decimals, or four when it is below 0.1 (idle CPU against wall time),
/// so it never shows as 0.01 either side of a 1% goal.
fn ratio_text(ratio: f64) -> String {
    if ratio < 0.1 {
        format!("{ratio:.4}")
    } else {
        format!("{ratio:.2}")
    }
}

/// Prints `rows` as a table, then the missed goals.
pub fn print(rows: &[Row]) {
    let header = ["benchmark", "measured", "baseline", "ratio", "goal", "met?"];
    let lines: Vec<[String; 6]> = rows
        .iter()
        .map(|row| {
            [
                row.name.clone(),
                row.measured.show(),
                if row.note.is_empty() {
                    row.baseline.show()
                } else {
                    format!("{} ({})", row.baseline.show(), row.note)
                },
                ratio_text(row.ratio()),
                row.goal_text(),
                match row.met() {
                    Some(true) => "yes".into(),
                    Some(false) => "NO".into(),
                    None => "info".into(),
                },
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    println!();
    println!("{}", render(&header.map(str::to_owned)));
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-|-")
    );
    for line in &lines {
        println!("{}", render(line));
    }
    let missed: Vec<String> = rows
        .iter()
        .filter_map(|row| row.missed_by().map(|m| format!("  - {}: {m}", row.name)))
        .collect();
    if missed.is_empty() {
        println!("\nevery goal met");
    } else {
        println!("\nmissed goals:");
        for line in missed {
            println!("{line}");
        }
    }
}
