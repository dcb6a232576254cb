//! Picks the language of the hosted pages and looks up their translated strings.
//!
//! Built-in strings live in `locales/<language>.json` (compiled in); English is complete and
//! every other language falls back to it key by key. Branding `strings` overrides are laid
//! over the result.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Languages with built-in strings; the first is the fallback.
pub const BUILT_IN_LANGUAGES: [&str; 3] = ["en", "fr", "de"];

/// The page strings of one language, by key.
pub type Strings = BTreeMap<String, String>;

fn catalog() -> &'static BTreeMap<&'static str, Strings> {
    static CATALOG: OnceLock<BTreeMap<&'static str, Strings>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        [
            ("en", include_str!("locales/en.json")),
            ("fr", include_str!("locales/fr.json")),
            ("de", include_str!("locales/de.json")),
        ]
        .into_iter()
        .map(|(language, source)| {
            // The files are compiled in and checked by a unit test; a broken one yields
            // English strings rather than a crash.
            (language, serde_json::from_str(source).unwrap_or_default())
        })
        .collect()
    })
}

/// The strings of `language` (a built-in language), each missing key taken from English.
pub fn built_in_strings(language: &str) -> Strings {
    let catalog = catalog();
    let mut strings = catalog.get("en").cloned().unwrap_or_default();
    if let Some(translated) = catalog.get(language) {
        strings.extend(translated.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    strings
}

/// Language tags of an `Accept-Language` header, best first (quality 0 dropped).
pub fn accept_language_tags(header: &str) -> Vec<String> {
    let mut weighted: Vec<(f32, usize, String)> = header
        .split(',')
        .enumerate()
        .filter_map(|(index, part)| {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next()?.trim();
            let quality = pieces
                .find_map(|piece| piece.trim().strip_prefix("q="))
                .and_then(|value| value.parse::<f32>().ok())
                .unwrap_or(1.0);
            (!tag.is_empty() && tag != "*" && quality > 0.0)
                .then(|| (quality, index, tag.to_string()))
        })
        .collect();
    weighted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    weighted.into_iter().map(|(_, _, tag)| tag).collect()
}

/// Picks the page language: the first of `ui_locales`, then of `Accept-Language`, then the
/// tenant default, that the tenant offers (its `supportedLocales`, or every built-in
/// language when it lists none) and the runtime can show. Matching is by primary subtag, so
/// `fr-CA` selects `fr`. English when nothing matches.
pub fn pick_language(
    ui_locales: Option<&str>,
    accept_language: Option<&str>,
    tenant_default: Option<&str>,
    tenant_supported: Option<&[String]>,
) -> &'static str {
    let primary = |tag: &str| {
        tag.split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    let offered = |language: &str| {
        tenant_supported.is_none_or(|supported| {
            supported
                .iter()
                .any(|tag| primary(tag) == language || tag.eq_ignore_ascii_case(language))
        })
    };
    let candidates = ui_locales
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .chain(
            accept_language
                .map(accept_language_tags)
                .unwrap_or_default(),
        )
        .chain(tenant_default.map(str::to_string));
    for candidate in candidates {
        let language = primary(&candidate);
        if let Some(built_in) = BUILT_IN_LANGUAGES
            .iter()
            .find(|built_in| **built_in == language)
            && offered(built_in)
        {
            return built_in;
        }
    }
    "en"
}

/// Replaces `{name}` placeholders in a string.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_string(), |text, (name, value)| {
            text.replace(&format!("{{{name}}}"), value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_file_parses_and_translates_every_english_key() {
        let english = built_in_strings("en");
        assert!(english.len() > 20);
        for language in ["fr", "de"] {
            let translated = catalog().get(language).expect("language file");
            let missing: Vec<_> = english
                .keys()
                .filter(|key| !translated.contains_key(*key))
                .collect();
            assert!(missing.is_empty(), "{language} lacks {missing:?}");
        }
    }

    #[test]
    fn language_comes_from_ui_locales_then_accept_language_then_the_default() {
        assert_eq!(
            pick_language(Some("fr-CA en"), Some("de"), None, None),
            "fr"
        );
        assert_eq!(
            pick_language(Some("es"), Some("es, de;q=0.8, fr;q=0.9"), None, None),
            "fr"
        );
        assert_eq!(pick_language(None, None, Some("de"), None), "de");
        assert_eq!(pick_language(Some("ja"), None, None, None), "en");
        let only_english = vec!["en".to_string()];
        assert_eq!(
            pick_language(Some("fr"), None, None, Some(&only_english)),
            "en"
        );
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(fill("to {client}", &[("client", "Shop")]), "to Shop");
    }
}
