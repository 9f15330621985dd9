//! Small statistics helpers: median, min–max spread and MAD.
//!
//! Every figure the driver prints is a median over repetitions; the spread is
//! shown next to it so a reader can tell a real difference from noise.

/// Summary of a sample of measurements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Number of values summarised.
    pub n: usize,
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Median absolute deviation from the median.
    pub mad: f64,
}

impl Summary {
    /// Summarises `values`; `None` if it is empty or holds a NaN.
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() || values.iter().any(|v| v.is_nan()) {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let median = median_sorted(&v);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        Some(Summary {
            n: v.len(),
            median,
            min: v[0],
            max: v[v.len() - 1],
            mad: median_sorted(&dev),
        })
    }

    /// `(min - median) / median` in percent (zero or negative).
    pub fn low_pct(&self) -> f64 {
        pct(self.min, self.median)
    }

    /// `(max - median) / median` in percent (zero or positive).
    pub fn high_pct(&self) -> f64 {
        pct(self.max, self.median)
    }

    /// MAD as a percentage of the median.
    pub fn mad_pct(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            100.0 * self.mad / self.median.abs()
        }
    }
}

fn pct(x: f64, median: f64) -> f64 {
    if median == 0.0 {
        0.0
    } else {
        100.0 * (x - median) / median.abs()
    }
}

/// Median of an already sorted, non-empty slice.
fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median of `values` (any order); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    Summary::of(values).map(|s| s.median)
}

/// Ratios `a[i] / b[i]` of paired measurements taken in the same repetition.
///
/// Pairs where either side is missing or `b` is zero are skipped. Pairing
/// matters on a noisy machine: a slow moment hits both members of a pair.
pub fn paired_ratios(a: &[Option<f64>], b: &[Option<f64>]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .filter_map(|(x, y)| match (x, y) {
            (Some(x), Some(y)) if *y != 0.0 => Some(x / y),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_unsorted() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, f64::NAN]), None);
        // The median is not the mean.
        assert_eq!(median(&[1.0, 2.0, 100.0]), Some(2.0));
    }

    #[test]
    fn summary_spread() {
        let s = Summary::of(&[110.0, 90.0, 100.0, 105.0, 95.0]).unwrap();
        assert_eq!(s.n, 5);
        assert_eq!(s.median, 100.0);
        assert_eq!(s.min, 90.0);
        assert_eq!(s.max, 110.0);
        assert!((s.low_pct() + 10.0).abs() < 1e-9);
        assert!((s.high_pct() - 10.0).abs() < 1e-9);
        // |deviations| = 10, 10, 0, 5, 5 → sorted 0 5 5 10 10 → MAD 5.
        assert_eq!(s.mad, 5.0);
        assert!((s.mad_pct() - 5.0).abs() < 1e-9);
    }

    #[test]
    fn summary_asymmetric_and_constant() {
        let s = Summary::of(&[10.0, 10.0, 13.0]).unwrap();
        assert_eq!(s.median, 10.0);
        assert_eq!(s.low_pct(), 0.0);
        assert!((s.high_pct() - 30.0).abs() < 1e-9);
        assert_eq!(s.mad, 0.0);
        let c = Summary::of(&[2.0, 2.0]).unwrap();
        assert_eq!((c.min, c.max, c.mad_pct()), (2.0, 2.0, 0.0));
    }

    #[test]
    fn ratios_are_paired_and_skip_gaps() {
        let a = [Some(2.0), Some(3.0), None, Some(8.0)];
        let b = [Some(1.0), Some(6.0), Some(1.0), Some(0.0)];
        assert_eq!(paired_ratios(&a, &b), vec![2.0, 0.5]);
    }
}
