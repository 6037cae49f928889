//! The language an error's `google.rpc.LocalizedMessage` speaks: chosen per
//! call from the `accept-language` metadata (RFC 9110 weights honoured),
//! else the server's configured default (`--default-language`).

/// A language the server answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Simplified Chinese, the users' language and the default.
    #[value(name = "zh-CN")]
    ZhCn,
    #[value(name = "en")]
    En,
}

impl Language {
    /// Its BCP 47 tag, as `LocalizedMessage.locale` gives it.
    pub fn tag(self) -> &'static str {
        match self {
            Language::ZhCn => "zh-CN",
            Language::En => "en",
        }
    }

    /// The language of a tag's primary subtag, if the server speaks it.
    fn of_tag(tag: &str) -> Option<Language> {
        let primary = tag.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Some(Language::ZhCn),
            "en" => Some(Language::En),
            _ => None,
        }
    }

    /// The caller's most preferred language the server speaks, from an
    /// `accept-language` value (`en;q=0.8, zh-CN`); `default` when none.
    pub fn negotiate(header: Option<&str>, default: Language) -> Language {
        let Some(header) = header else {
            return default;
        };
        let mut ranked: Vec<(f32, Language)> = header
            .split(',')
            .filter_map(|part| {
                let mut fields = part.split(';');
                let lang = Language::of_tag(fields.next()?)?;
                let q = fields
                    .find_map(|f| f.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (q > 0.0).then_some((q, lang))
            })
            .collect();
        // Stable: of equal weights, the one named first.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.first().map_or(default, |(_, l)| *l)
    }
}

#[cfg(test)]
mod tests {
    use super::Language::{self, *};

    #[test]
    fn negotiation_honours_order_weights_and_the_default() {
        let n = |h| Language::negotiate(h, ZhCn);
        assert_eq!(n(None), ZhCn);
        assert_eq!(n(Some("en")), En);
        assert_eq!(n(Some("en-US,en;q=0.9")), En);
        assert_eq!(n(Some("zh-CN,zh;q=0.9,en;q=0.8")), ZhCn);
        assert_eq!(n(Some("fr, en;q=0.5")), En);
        assert_eq!(n(Some("en;q=0.4, zh-TW;q=0.6")), ZhCn);
        assert_eq!(n(Some("en;q=0")), ZhCn);
        assert_eq!(n(Some("fr")), ZhCn);
        assert_eq!(Language::negotiate(Some("de"), En), En);
        assert_eq!(Language::negotiate(Some("garbage;q=x, en"), ZhCn), En);
    }
}
