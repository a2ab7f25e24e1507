//! SVG charts with plotters (SVG backend only: no font or bitmap stack to build).
//!
//! Bar charts show the median of the rounds with a whisker from the smallest to the largest
//! round; the outage chart shows the share of requests answered 2xx in each second.

use std::path::Path;

use anyhow::anyhow;
use plotters::{
    coord::ranged1d::SegmentValue,
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use crate::stats::Spread;

/// One bar.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Short label under the bar.
    pub label: String,
    /// Median and spread.
    pub value: Spread,
    /// Fill colour.
    pub color: RGBColor,
}

/// Colour of the workspace's own variants.
pub const OURS: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
/// Colour of baselines (no authentication, raw signing).
pub const BASELINE: RGBColor = RGBColor(0x9a, 0x9a, 0x9a);
/// Colour of the peer and of the stateful mode.
pub const OTHER: RGBColor = RGBColor(0xd6, 0x61, 0x1e);
/// Colour of reference limits (OpenSSL).
pub const LIMIT: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);

/// `value` rounded to a whole number (0 at least), its digits grouped by thousands with
/// spaces: `1 234 567`. The report writes its counts and rates the same way.
#[must_use]
pub fn grouped(value: f64) -> String {
    let text = (value.round().max(0.0) as u64).to_string();
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i > 0 && (text.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// An axis or bar label: grouped from 100 up, otherwise with one or two decimals.
fn number(value: f64) -> String {
    if value >= 100.0 {
        grouped(value)
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// A bar chart with min–max whiskers and the median written above each bar.
///
/// # Errors
/// The file cannot be written.
pub fn bars(path: &Path, title: &str, y_label: &str, bars: &[Bar]) -> anyhow::Result<()> {
    let width = (160 * bars.len() as u32).clamp(480, 1100);
    let root = SVGBackend::new(path, (width, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let top = bars.iter().map(|b| b.value.max.max(b.value.median)).fold(0.0, f64::max).max(1e-9) * 1.18;
    let count = bars.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 19))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(78)
        .build_cartesian_2d((0..count).into_segmented(), 0.0..top)
        .map_err(|e| anyhow!("{e}"))?;
    let label_of = |value: &SegmentValue<usize>| match value {
        SegmentValue::CenterOf(i) => bars.get(*i).map(|b| b.label.clone()).unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(count)
        .x_label_formatter(&label_of)
        .x_label_style(("sans-serif", 13))
        .y_desc(y_label)
        .y_label_formatter(&|v| number(*v))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, bar)| {
            let mut rect = Rectangle::new(
                [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), bar.value.median)],
                bar.color.filled(),
            );
            rect.set_margin(0, 0, 18, 18);
            rect
        }))
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .draw_series(bars.iter().enumerate().filter(|(_, b)| b.value.max > b.value.min).map(|(i, bar)| {
            PathElement::new(
                vec![(SegmentValue::CenterOf(i), bar.value.min), (SegmentValue::CenterOf(i), bar.value.max)],
                BLACK.stroke_width(2),
            )
        }))
        .map_err(|e| anyhow!("{e}"))?;
    let style = TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart
        .draw_series(bars.iter().enumerate().map(|(i, bar)| {
            Text::new(
                number(bar.value.median),
                (SegmentValue::CenterOf(i), bar.value.max.max(bar.value.median) + top * 0.01),
                style.clone(),
            )
        }))
        .map_err(|e| anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// One line of a timeline chart: `(second, percent)` points and a vertical marker.
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend label.
    pub label: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
    /// Where the event happened (seconds), drawn as a dashed vertical line.
    pub marker: Option<f64>,
    /// Colour.
    pub color: RGBColor,
}

/// A line chart of percentages over seconds.
///
/// # Errors
/// The file cannot be written.
pub fn timeline(path: &Path, title: &str, y_label: &str, lines: &[Line]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (860, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let right = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)).fold(1.0, f64::max) + 0.5;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 19))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..right, 0.0..105.0)
        .map_err(|e| anyhow!("{e}"))?;
    chart.configure_mesh().x_desc("seconds into the run").y_desc(y_label).draw().map_err(|e| anyhow!("{e}"))?;
    for line in lines {
        let color = line.color;
        chart
            .draw_series(LineSeries::new(line.points.clone(), color.stroke_width(3)))
            .map_err(|e| anyhow!("{e}"))?
            .label(line.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3)));
        chart
            .draw_series(line.points.iter().map(|p| Circle::new(*p, 3, color.filled())))
            .map_err(|e| anyhow!("{e}"))?;
        if let Some(at) = line.marker {
            // Dashes drawn as short segments: the SVG backend has no dash style.
            let segments = (0..21).map(|k| {
                let y0 = f64::from(k) * 5.0;
                PathElement::new(vec![(at, y0), (at, y0 + 2.5)], color.stroke_width(2))
            });
            chart.draw_series(segments).map_err(|e| anyhow!("{e}"))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(number(1_234_567.4), "1 234 567");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(0.5), "0.50");
    }

    #[test]
    fn charts_render_to_svg() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bars.svg");
        let spread = Spread { median: 10.0, min: 9.0, max: 11.0 };
        bars(&path, "t", "y", &[Bar { label: "a".into(), value: spread, color: OURS }]).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
        let path = dir.path().join("line.svg");
        let line = Line { label: "l".into(), points: vec![(0.0, 100.0), (1.0, 0.0)], marker: Some(0.5), color: OTHER };
        timeline(&path, "t", "%", &[line]).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
    }
}
