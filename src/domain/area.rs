//! The area a supply interruption covers, and whether a place lies in it
//! (R-OUT-5, R-OUT-6). A utility describes an area the way its staff know
//! it: a list of addresses (buildings, estates), districts and streets, and
//! where it has them, a point with a radius or a polygon. A place is in the
//! area when any of these says so:
//!
//! - an address of the list is the place's address or its start, on a word
//!   boundary ("建国路88号" covers "建国路88号3单元502"; "1 Main St" covers
//!   "1 Main St, flat 2" but not "11 Main St" or "1 Main Street");
//! - a district or street of the list occurs in the place's address, again
//!   on word boundaries ("朝阳区", "Main St");
//! - both have coordinates and the place lies within the radius of the point
//!   (edge included) or inside the polygon.
//!
//! Addresses compare after the intake normalisation (case and spacing, the
//! same key the repeat-repair rule uses, R-TKT-11).
use crate::domain::geo::GeoPoint;
use crate::error::{AppError, AppResult, reason};
use serde::{Deserialize, Serialize};

/// The largest radius an area may have (a whole city is smaller).
pub const MAX_RADIUS_M: f64 = 100_000.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Area {
    /// What the public is told ("建国路以北，东三环至东四环").
    pub description: String,
    /// Normalised address keys (see the module docs).
    pub addresses: Vec<String>,
    pub districts: Vec<String>,
    pub streets: Vec<String>,
    /// A centre and radius in metres.
    pub centre: Option<GeoPoint>,
    pub radius_m: Option<f64>,
    /// A closed ring of at least three points (the last joins the first).
    pub polygon: Vec<GeoPoint>,
}

/// A place to test: a caller's address, perhaps with coordinates.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub address: &'a str,
    pub location: Option<GeoPoint>,
}

/// The normal form addresses are compared in (R-TKT-11): spacing collapsed, lower case.
pub fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Latin letters and digits run together into words; a CJK character is a
/// word of its own, so Chinese text has a boundary between any two characters.
fn joins(a: char, b: char) -> bool {
    a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric()
}

/// Does `needle` occur in `hay` at `at` without cutting a word?
fn on_boundaries(hay: &str, at: usize, needle: &str) -> bool {
    let before = hay[..at].chars().next_back();
    let after = hay[at + needle.len()..].chars().next();
    let first = needle.chars().next();
    let last = needle.chars().next_back();
    let cut_before = matches!((before, first), (Some(b), Some(f)) if joins(b, f));
    let cut_after = matches!((last, after), (Some(l), Some(a)) if joins(l, a));
    !cut_before && !cut_after
}

fn starts_with_word(hay: &str, prefix: &str) -> bool {
    !prefix.is_empty() && hay.starts_with(prefix) && on_boundaries(hay, 0, prefix)
}

fn contains_word(hay: &str, needle: &str) -> bool {
    !needle.is_empty()
        && hay
            .match_indices(needle)
            .any(|(at, _)| on_boundaries(hay, at, needle))
}

/// Ray casting in the plane of latitude and longitude: exact enough for the
/// few kilometres an area spans.
fn inside_polygon(ring: &[GeoPoint], p: &GeoPoint) -> bool {
    let (x, y) = (p.longitude(), p.latitude());
    let mut inside = false;
    let mut j = ring.len() - 1;
    for i in 0..ring.len() {
        let (xi, yi) = (ring[i].longitude(), ring[i].latitude());
        let (xj, yj) = (ring[j].longitude(), ring[j].latitude());
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

impl Area {
    /// Trim and normalise the lists, and refuse an area that names no place.
    pub fn validated(mut self, field: &str) -> AppResult<Area> {
        let clean = |v: Vec<String>| -> Vec<String> {
            let mut out: Vec<String> = v
                .iter()
                .map(|s| normalise(s))
                .filter(|s| !s.is_empty())
                .collect();
            out.sort();
            out.dedup();
            out
        };
        self.description = self.description.trim().to_string();
        self.addresses = clean(self.addresses);
        self.districts = clean(self.districts);
        self.streets = clean(self.streets);
        let mut errors = Vec::new();
        match (self.centre, self.radius_m) {
            (Some(_), Some(r)) if !(r.is_finite() && r > 0.0 && r <= MAX_RADIUS_M) => {
                errors.push(AppError::invalid(
                    format!("{field}.radius_m"),
                    reason::OUT_OF_RANGE,
                    format!("radius_m must lie in (0, {MAX_RADIUS_M}]"),
                ))
            }
            (Some(_), None) => errors.push(AppError::missing(format!("{field}.radius_m"))),
            (None, Some(_)) => errors.push(AppError::missing(format!("{field}.centre"))),
            _ => {}
        }
        if !self.polygon.is_empty() && self.polygon.len() < 3 {
            errors.push(AppError::invalid(
                format!("{field}.polygon"),
                reason::OUT_OF_RANGE,
                "a polygon needs at least three points",
            ));
        }
        if let Some(e) = AppError::from_violations(errors) {
            return Err(e);
        }
        let names_a_place = !self.addresses.is_empty()
            || !self.districts.is_empty()
            || !self.streets.is_empty()
            || self.centre.is_some()
            || !self.polygon.is_empty();
        if !names_a_place {
            return Err(AppError::invalid(
                field,
                reason::MISSING_FIELD,
                "an area needs at least one address, district, street, circle or polygon",
            ));
        }
        Ok(self)
    }

    /// Is `place` in this area (see the module docs)?
    pub fn contains(&self, place: &Place) -> bool {
        let key = normalise(place.address);
        if !key.is_empty()
            && (self.addresses.iter().any(|a| starts_with_word(&key, a))
                || self.districts.iter().any(|d| contains_word(&key, d))
                || self.streets.iter().any(|s| contains_word(&key, s)))
        {
            return true;
        }
        let Some(at) = place.location else {
            return false;
        };
        let in_circle = match (self.centre, self.radius_m) {
            (Some(c), Some(r)) => c.distance_m(&at) <= r,
            _ => false,
        };
        in_circle || (self.polygon.len() >= 3 && inside_polygon(&self.polygon, &at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint::new(lat, lon, "p").unwrap()
    }

    fn at(address: &str) -> Place<'_> {
        Place {
            address,
            location: None,
        }
    }

    fn area() -> Area {
        Area {
            description: "north of Jianguo Rd".into(),
            addresses: vec!["建国路88号".into(), "1  Main St".into()],
            districts: vec!["朝阳区".into()],
            streets: vec!["Elm Road".into()],
            ..Area::default()
        }
        .validated("area")
        .unwrap()
    }

    /// R-OUT-5: an address of the list covers the flats of the building, on a word boundary.
    #[test]
    fn r_out_5_address_keys_cover_their_buildings_only() {
        let a = area();
        assert!(a.contains(&at("建国路88号")));
        assert!(a.contains(&at("建国路88号3单元502")));
        assert!(!a.contains(&at("建国路8号")));
        assert!(!a.contains(&at("建国路888号")));
        assert!(a.contains(&at("1 main st")));
        assert!(a.contains(&at("1 Main  St, flat 2")));
        assert!(!a.contains(&at("11 Main St")));
        assert!(!a.contains(&at("1 Main Street")));
    }

    #[test]
    fn r_out_5_districts_and_streets_match_inside_the_address() {
        let a = area();
        assert!(a.contains(&at("北京市朝阳区光华路5号")));
        assert!(!a.contains(&at("北京市海淀区光华路5号")));
        assert!(a.contains(&at("12 elm road, block b")));
        assert!(!a.contains(&at("12 Elm Roads")));
        assert!(!a.contains(&at("12 Helm Road")));
    }

    /// R-OUT-5: a circle includes its edge; one metre past it is outside.
    #[test]
    fn r_out_5_radius_edge() {
        let centre = pt(39.9, 116.4);
        let inside = pt(39.9 + 0.0009, 116.4); // ~100 m north
        let d = centre.distance_m(&inside);
        let circle = |r: f64| {
            Area {
                centre: Some(centre),
                radius_m: Some(r),
                ..Area::default()
            }
            .validated("area")
            .unwrap()
        };
        let place = Place {
            address: "",
            location: Some(inside),
        };
        assert!(circle(d).contains(&place));
        assert!(!circle(d - 1.0).contains(&place));
        // Without coordinates, a circle says nothing.
        assert!(!circle(d).contains(&at("somewhere")));
    }

    #[test]
    fn polygon_inside_and_outside() {
        let square = Area {
            polygon: vec![pt(0.0, 0.0), pt(0.0, 1.0), pt(1.0, 1.0), pt(1.0, 0.0)],
            ..Area::default()
        }
        .validated("area")
        .unwrap();
        let p = |lat, lon| Place {
            address: "",
            location: Some(pt(lat, lon)),
        };
        assert!(square.contains(&p(0.5, 0.5)));
        assert!(!square.contains(&p(1.5, 0.5)));
        assert!(!square.contains(&p(0.5, -0.1)));
    }

    #[test]
    fn an_area_that_names_no_place_is_refused() {
        let e = Area {
            description: "somewhere".into(),
            addresses: vec!["  ".into()],
            ..Area::default()
        }
        .validated("area")
        .unwrap_err();
        assert_eq!(e.reason(), reason::MISSING_FIELD);
        let e = Area {
            centre: Some(pt(1.0, 1.0)),
            radius_m: Some(-5.0),
            ..Area::default()
        }
        .validated("area")
        .unwrap_err();
        assert_eq!(e.reason(), reason::OUT_OF_RANGE);
    }
}
