//! Rates written as `1/s`, `20/min` or `2000/d`: how many messages per period.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A rate limit in configuration: `count/period`, where period is `s`, `min`, `h` or `d`
/// (optionally with a multiplier, e.g. `5/5s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// How many.
    pub count: NonZeroU32,
    /// Per how long.
    pub per: Duration,
}

impl Rate {
    /// `count` per second.
    pub fn per_second(count: u32) -> Self {
        Rate {
            count: NonZeroU32::new(count.max(1)).expect("max(1)"),
            per: Duration::from_secs(1),
        }
    }

    /// `count` per minute.
    pub fn per_minute(count: u32) -> Self {
        Rate {
            count: NonZeroU32::new(count.max(1)).expect("max(1)"),
            per: Duration::from_secs(60),
        }
    }

    /// The interval between two messages at a steady pace.
    pub fn interval(&self) -> Duration {
        self.per / self.count.get()
    }

    /// Parses `count/period`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a rate like 1/s, 20/min or 2000/d");
        let (count, period) = text.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let count = NonZeroU32::new(count).ok_or_else(bad)?;
        let period = period.trim();
        let split = period
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(period.len());
        let (mult, unit) = period.split_at(split);
        let mult: u32 = if mult.is_empty() {
            1
        } else {
            mult.parse().map_err(|_| bad())?
        };
        let unit = match unit {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" | "min" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            _ => return Err(bad()),
        };
        if mult == 0 {
            return Err(bad());
        }
        Ok(Rate {
            count,
            per: unit * mult,
        })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.per.as_secs();
        let unit = match secs {
            1 => "s".to_owned(),
            60 => "min".to_owned(),
            3600 => "h".to_owned(),
            86_400 => "d".to_owned(),
            _ if self.per.subsec_millis() == 0 => format!("{secs}s"),
            _ => format!("{}ms", self.per.as_millis()),
        };
        write!(f, "{}/{}", self.count, unit)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Rate::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Rate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rate".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]+/[0-9]*(ms|s|m|min|h|d)$",
            "description": "A rate such as 1/s, 20/min, 5/5s or 2000/d."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        let r = Rate::parse("20/min").unwrap();
        assert_eq!(r.count.get(), 20);
        assert_eq!(r.interval(), Duration::from_secs(3));
        assert_eq!(
            Rate::parse("5/5s").unwrap().interval(),
            Duration::from_secs(1)
        );
        assert_eq!(Rate::parse("1/s").unwrap().to_string(), "1/s");
        assert!(Rate::parse("0/s").is_err());
        assert!(Rate::parse("fast").is_err());
    }
}
