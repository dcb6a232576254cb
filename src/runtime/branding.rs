//! Turns a tenant's branding into what the page templates show, and sanitises custom CSS.

use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use crate::api::branding::LayoutTemplateType;

use super::flows;
use super::i18n::Strings;
use super::model::{BrandingContent, BrandingDocument, BrandingImage};

/// The branding of one page, ready for the templates (every value already safe where it is
/// placed: text is escaped by the templates, `*_html` and `custom_css` are sanitised here).
#[derive(Serialize, Debug, Default, Clone, PartialEq)]
pub struct BrandView {
    /// Page background colour (`#rgb`/`#rrggbb`, validated on PUT).
    pub background_color: Option<String>,
    /// Header background colour.
    pub header_background_color: Option<String>,
    /// Background image URI.
    pub background_image: Option<String>,
    /// Banner logo URI (on the sign-in box).
    pub banner_logo: Option<String>,
    /// Header logo URI.
    pub header_logo: Option<String>,
    /// Square logo URI (light).
    pub square_logo: Option<String>,
    /// Square logo URI (dark).
    pub square_logo_dark: Option<String>,
    /// Favicon URI.
    pub favicon: Option<String>,
    /// Sanitised custom CSS.
    pub custom_css: Option<String>,
    /// Sign-in page text as HTML.
    pub sign_in_text_html: Option<String>,
    /// Placeholder of the sign-in email box.
    pub username_hint: Option<String>,
    /// Footer privacy link text and URL.
    pub privacy_text: Option<String>,
    /// Footer privacy link URL.
    pub privacy_url: Option<String>,
    /// Footer terms link text.
    pub terms_text: Option<String>,
    /// Footer terms link URL.
    pub terms_url: Option<String>,
    /// Text of the forgot-password link.
    pub forgot_text: Option<String>,
    /// External target of the forgot-password link.
    pub forgot_url: Option<String>,
    /// Whether the header is shown.
    pub show_header: bool,
    /// Whether the footer is shown.
    pub show_footer: bool,
    /// `default` or `vertical-split`.
    pub layout: &'static str,
    /// Hide the sign-up link.
    pub hide_sign_up: bool,
    /// Hide the forgot-password link.
    pub hide_forgot_password: bool,
    /// Hide the "reset it now" link after a wrong password.
    pub hide_reset_it_now: bool,
    /// Hide the privacy link.
    pub hide_privacy: bool,
    /// Hide the terms link.
    pub hide_terms: bool,
}

/// The branding of `language`: the default overlaid with the localization of the language
/// (exact tag, then primary subtag).
pub fn content_for(document: &BrandingDocument, language: &str) -> BrandingContent {
    let default = document.default.clone().unwrap_or_default();
    let localizations = document.localizations.as_ref();
    let primary = language.split('-').next().unwrap_or(language);
    match localizations.and_then(|map| map.get(language).or_else(|| map.get(primary))) {
        Some(localized) => default.overlaid(localized),
        None => default,
    }
}

/// Lays the branding's `strings` overrides for `language` over the built-in strings.
pub fn apply_strings(strings: &mut Strings, document: &BrandingDocument, language: &str) {
    if let Some(overrides) = document.strings.as_ref().and_then(|all| all.get(language)) {
        strings.extend(
            overrides
                .iter()
                .map(|(key, text)| (key.clone(), text.clone())),
        );
    }
}

fn image(source: &Option<BrandingImage>) -> Option<String> {
    source.as_ref().map(|image| image.source().to_string())
}

/// What the templates need from `content`.
pub fn view(content: &BrandingContent) -> BrandView {
    let visibility = content
        .login_page_text_visibility_settings
        .clone()
        .unwrap_or_default();
    let layout = content.login_page_layout_configuration.as_ref();
    BrandView {
        background_color: content.background_color.clone(),
        header_background_color: content.header_background_color.clone(),
        background_image: image(&content.background_image),
        banner_logo: image(&content.banner_logo),
        header_logo: image(&content.header_logo),
        square_logo: image(&content.square_logo),
        square_logo_dark: image(&content.square_logo_dark),
        favicon: image(&content.favicon),
        custom_css: content.custom_css.as_deref().map(sanitize_css),
        sign_in_text_html: content
            .sign_in_page_text
            .as_deref()
            .map(flows::inline_markdown),
        username_hint: content.username_hint_text.clone(),
        privacy_text: content.custom_privacy_and_cookies_text.clone(),
        privacy_url: content.custom_privacy_and_cookies_url.clone(),
        terms_text: content.custom_terms_of_use_text.clone(),
        terms_url: content.custom_terms_of_use_url.clone(),
        forgot_text: content.custom_forgot_my_password_text.clone(),
        forgot_url: content.custom_account_reset_credentials_url.clone(),
        show_header: layout.and_then(|layout| layout.is_header_shown) == Some(true)
            || content.header_logo.is_some(),
        show_footer: layout.and_then(|layout| layout.is_footer_shown) != Some(false),
        layout: match layout.map(|layout| layout.layout_template_type) {
            Some(LayoutTemplateType::VerticalSplit) => "vertical-split",
            _ => "default",
        },
        hide_sign_up: visibility.hide_sign_up == Some(true),
        hide_forgot_password: visibility.hide_forgot_my_password == Some(true)
            || visibility.hide_cannot_access_your_account == Some(true),
        hide_reset_it_now: visibility.hide_reset_it_now == Some(true),
        hide_privacy: visibility.hide_privacy_and_cookies == Some(true),
        hide_terms: visibility.hide_terms_of_use == Some(true),
    }
}

fn css_patterns() -> &'static [(Regex, &'static str); 5] {
    static PATTERNS: OnceLock<[(Regex, &'static str); 5]> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        // The patterns are constants checked by the unit tests; a broken one must not
        // silently disable sanitising, so it stops the runtime instead.
        let compile = |pattern: &str| Regex::new(pattern).expect("valid built-in CSS pattern");
        [
            // Comments first, so they cannot split a keyword such as u/**/rl(.
            (compile(r"(?s)/\*.*?\*/"), ""),
            // @import loads another style sheet; @charset/@namespace are not needed inline.
            (compile(r"(?i)@(import|charset|namespace)[^;{}]*;?"), ""),
            // Legacy script vectors.
            (
                compile(r"(?i)(expression\s*\(|behavio(u)?r\s*:|-moz-binding\s*:|javascript:|vbscript:)"),
                "/*removed*/",
            ),
            // image-set() and src() are url() in disguise.
            (compile(r"(?i)(image-set|src)\s*\("), "none("),
            // url(): only inline images and same-origin paths survive.
            (
                compile(r#"(?i)url\(\s*(?:"([^"]*)"|'([^']*)'|([^)]*))\s*\)"#),
                "",
            ),
        ]
    })
}

fn safe_url_target(target: &str) -> bool {
    let target = target.trim();
    (target.starts_with("data:image/") && !target.starts_with("data:image/svg"))
        || (target.starts_with('/') && !target.starts_with("//"))
}

/// Sanitises a tenant's custom CSS so it can be inlined in a `<style>` element: it cannot
/// close the element (`<` is removed), run script (`expression()`, `javascript:`, bindings)
/// or load anything from another origin (`@import`, and `url()` other than `data:image/` and
/// same-origin paths). Backslash escapes are removed, since they could spell any of these.
pub fn sanitize_css(css: &str) -> String {
    let mut text: String = css
        .chars()
        .filter(|c| *c != '<' && *c != '\\' && (!c.is_control() || c.is_whitespace()))
        .collect();
    let patterns = css_patterns();
    for (pattern, replacement) in &patterns[..4] {
        text = pattern.replace_all(&text, *replacement).into_owned();
    }
    patterns[4]
        .0
        .replace_all(&text, |captures: &regex::Captures<'_>| {
            let target = captures
                .get(1)
                .or_else(|| captures.get(2))
                .or_else(|| captures.get(3))
                .map_or("", |target| target.as_str());
            if safe_url_target(target) && !target.contains(['"', '\'', '(', ')']) {
                format!("url(\"{}\")", target.trim())
            } else {
                "none".to_string()
            }
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_css_is_neutralised_and_harmless_css_kept() {
        let hostile = "</style><script>alert(1)</script>\n\
            body { background: url(javascript:alert(1)) }\n\
            @import url(https://evil.example/x.css);\n\
            @IMPORT 'https://evil.example/y.css';\n\
            .a { background-image: url( 'https://evil.example/a.png' ) }\n\
            .b { background: u/**/rl(https://evil.example/b.png) }\n\
            .c { width: expression(alert(1)) }\n\
            .e { background: url(data:image/png;base64,AAAA) }\n\
            main { border-top: 7px solid #123456 }";
        let safe = sanitize_css(hostile);
        for forbidden in [
            "<",
            "javascript",
            "@import",
            "evil.example",
            "expression(",
            "\\",
        ] {
            assert!(
                !safe.to_lowercase().contains(forbidden),
                "{forbidden} survived in {safe}"
            );
        }
        assert!(safe.contains("url(\"data:image/png;base64,AAAA\")"));
        // An escaped url( loses its backslash and with it its meaning.
        assert_eq!(
            sanitize_css(".d { background: \\75rl(x) }"),
            ".d { background: 75rl(x) }"
        );
        assert!(safe.contains("main { border-top: 7px solid #123456 }"));
    }

    #[test]
    fn localizations_overlay_the_default_by_language() {
        let document: BrandingDocument = serde_json::from_value(serde_json::json!({
            "default": { "backgroundColor": "#123456", "signInPageText": "Welcome" },
            "localizations": { "fr": { "signInPageText": "Bienvenue" } },
            "strings": { "fr": { "sign_in_button": "Connexion maintenant" } }
        }))
        .expect("shape");
        let french = content_for(&document, "fr");
        assert_eq!(french.sign_in_page_text.as_deref(), Some("Bienvenue"));
        assert_eq!(french.background_color.as_deref(), Some("#123456"));
        assert_eq!(
            content_for(&document, "de").sign_in_page_text.as_deref(),
            Some("Welcome")
        );
        let mut strings = Strings::new();
        apply_strings(&mut strings, &document, "fr");
        assert_eq!(strings["sign_in_button"], "Connexion maintenant");
    }
}
