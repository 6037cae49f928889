//! Geographic points and the check-in distance rule (R-TKT-6).
use crate::error::{AppError, AppResult, reason};
use serde::{Deserialize, Serialize};

/// A validated WGS 84 point: latitude in [-90, 90], longitude in [-180, 180].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    lat: f64,
    lon: f64,
}

impl GeoPoint {
    /// `field` is the request path of the point, e.g. `location`.
    pub fn new(lat: f64, lon: f64, field: &str) -> AppResult<GeoPoint> {
        let mut errors = Vec::new();
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            errors.push(AppError::invalid(
                format!("{field}.latitude"),
                reason::OUT_OF_RANGE,
                "latitude must be within [-90, 90]",
            ));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            errors.push(AppError::invalid(
                format!("{field}.longitude"),
                reason::OUT_OF_RANGE,
                "longitude must be within [-180, 180]",
            ));
        }
        match AppError::from_violations(errors) {
            Some(e) => Err(e),
            None => Ok(GeoPoint { lat, lon }),
        }
    }

    pub fn latitude(&self) -> f64 {
        self.lat
    }

    pub fn longitude(&self) -> f64 {
        self.lon
    }

    /// Great-circle distance in metres (haversine; plenty for a few hundred metres).
    pub fn distance_m(&self, other: &GeoPoint) -> f64 {
        const EARTH_RADIUS_M: f64 = 6_371_008.8;
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = (other.lat - self.lat).to_radians();
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().asin()
    }
}

/// GPS accuracy in metres: finite and >= 0.
pub fn validate_accuracy(accuracy_m: f64, field: &str) -> AppResult<f64> {
    if accuracy_m.is_finite() && accuracy_m >= 0.0 {
        Ok(accuracy_m)
    } else {
        Err(AppError::invalid(
            field,
            reason::OUT_OF_RANGE,
            "accuracy must be a finite number >= 0",
        ))
    }
}

/// R-TKT-6: a check-in counts as verified when it lies within the policy
/// distance of the ticket's point, allowing for the reported accuracy.
pub fn checkin_verified(distance_m: f64, accuracy_m: f64, max_distance_m: f64) -> bool {
    distance_m <= max_distance_m + accuracy_m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_out_of_range_points_with_field_paths() {
        let e = GeoPoint::new(90.5, 0.0, "location").unwrap_err();
        assert!(format!("{e}").contains("location.latitude"));
        let e = GeoPoint::new(0.0, -180.1, "location").unwrap_err();
        assert!(format!("{e}").contains("location.longitude"));
        assert!(GeoPoint::new(f64::NAN, 0.0, "p").is_err());
        assert!(GeoPoint::new(-90.0, 180.0, "p").is_ok());
    }

    #[test]
    fn distance_of_a_known_pair() {
        // Two points 0.001 deg of latitude apart: about 111 m.
        let a = GeoPoint::new(39.9, 116.4, "a").unwrap();
        let b = GeoPoint::new(39.901, 116.4, "b").unwrap();
        let d = a.distance_m(&b);
        assert!((d - 111.2).abs() < 1.0, "{d}");
    }

    #[test]
    fn r_tkt_6_verification_allows_for_accuracy() {
        assert!(checkin_verified(300.0, 0.0, 300.0));
        assert!(!checkin_verified(300.1, 0.0, 300.0));
        assert!(checkin_verified(350.0, 50.0, 300.0));
        assert!(!checkin_verified(350.1, 50.0, 300.0));
    }

    #[test]
    fn accuracy_must_be_non_negative() {
        assert!(validate_accuracy(-0.1, "accuracy_m").is_err());
        assert!(validate_accuracy(f64::INFINITY, "accuracy_m").is_err());
        assert_eq!(validate_accuracy(0.0, "accuracy_m").unwrap(), 0.0);
    }
}
