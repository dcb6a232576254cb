//! Turns a tenant's branding into what the page templates show, and sanitises custom CSS.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use crate::api::branding::{LayoutTemplateType, LocalizedStrings};

use super::flows;
use crate::contract::{BrandingContent, BrandingDocument, BrandingImage};
use crate::runtime::i18n::Strings;

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

/// The overrides of `language`: the exact tag, then its primary subtag.
fn overrides_for<'a>(
    document: &'a BrandingDocument,
    language: &str,
) -> Option<&'a LocalizedStrings> {
    let all = document.strings.as_ref()?;
    let primary = language.split('-').next().unwrap_or(language);
    all.get(language).or_else(|| all.get(primary))
}

/// Lays the branding's `strings` overrides for `language` over the built-in strings. Entra's
/// keys and the runtime's own keys both work; when several set one string, the runtime's key
/// wins, then the earlier Entra key. Unknown keys change nothing.
pub fn apply_strings(strings: &mut Strings, document: &BrandingDocument, language: &str) {
    let Some(overrides) = overrides_for(document, language) else {
        return;
    };
    let mut chosen: BTreeMap<&'static str, (usize, &String)> = BTreeMap::new();
    for (key, text) in overrides {
        if let Some((internal, rank)) = crate::contract::branding::override_target(key) {
            let best = chosen.entry(internal).or_insert((rank, text));
            if rank < best.0 {
                *best = (rank, text);
            }
        }
    }
    strings.extend(
        chosen
            .into_iter()
            .map(|(internal, (_, text))| (internal.to_string(), text.clone())),
    );
}

/// The `strings.<language>` override of the label of `attribute` (built-in or custom):
/// Entra's key `Attribute_<attribute>`, also with the first letter capitalised
/// (`Attribute_City` for `city`), or Entra's form for custom attributes,
/// `Attribute_extension_<app id without dashes>_<attribute>`.
pub fn attribute_label_override(
    document: &BrandingDocument,
    language: &str,
    attribute: &str,
) -> Option<String> {
    let overrides = overrides_for(document, language)?;
    let mut capitalised = attribute.chars();
    let capitalised = capitalised
        .next()
        .map(|first| first.to_uppercase().chain(capitalised).collect::<String>())
        .unwrap_or_default();
    let extension = |key: &str| {
        key.strip_prefix("Attribute_extension_")
            .and_then(|rest| rest.split_once('_'))
            .is_some_and(|(app_id, name)| {
                app_id.len() == 32
                    && app_id.bytes().all(|byte| byte.is_ascii_hexdigit())
                    && name == attribute
            })
    };
    overrides
        .get(&format!("Attribute_{attribute}"))
        .or_else(|| overrides.get(&format!("Attribute_{capitalised}")))
        .or_else(|| {
            overrides
                .iter()
                .find(|(key, _)| extension(key))
                .map(|(_, text)| text)
        })
        .cloned()
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
        // Both default to shown (the CRD's documented default); only an explicit false hides
        // them, whatever logo or links the branding has.
        show_header: layout.and_then(|layout| layout.is_header_shown) != Some(false),
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

/// Marks where a safe `url()` was taken out of the text while the other passes run; control
/// characters are stripped from the input first, so the markers cannot be forged.
const PLACEHOLDER_START: char = '\u{1}';
const PLACEHOLDER_END: char = '\u{2}';

/// The sanitiser's passes, compiled once.
struct CssPatterns {
    /// Comments (an unterminated one runs to the end), removed first so they cannot split a
    /// keyword such as `u/**/rl(` from the later passes.
    comment: Regex,
    /// A `url(…)` closed by `)`, with a quoted or unquoted target.
    closed_url: Regex,
    /// `@import` loads another style sheet; `@charset`/`@namespace` are not needed inline.
    at_rule: Regex,
    /// Legacy script vectors.
    script: Regex,
    /// Every other function that loads a resource, or takes a string as a URL: whatever
    /// `url(` is left (unterminated, broken by quotes or whitespace, `url (`), `src()`,
    /// `image()`, `image-set()` and `-webkit-image-set()`.
    loading_function: Regex,
    /// A placeholder left by the closed-url pass.
    placeholder: Regex,
}

fn css_patterns() -> &'static CssPatterns {
    static PATTERNS: OnceLock<CssPatterns> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        // The patterns are constants checked by the unit tests; a broken one must not
        // silently disable sanitising, so it stops the runtime instead.
        let compile = |pattern: &str| Regex::new(pattern).expect("valid built-in CSS pattern");
        CssPatterns {
            comment: compile(r"(?s)/\*.*?(?:\*/|\z)"),
            closed_url: compile(r#"(?i)url\(\s*(?:"([^"]*)"|'([^']*)'|([^)]*))\s*\)"#),
            at_rule: compile(r"(?i)@(?:import|charset|namespace)[^;{}]*;?"),
            script: compile(
                r"(?i)(?:expression\s*\(|behaviou?r\s*:|-moz-binding\s*:|javascript\s*:|vbscript\s*:)",
            ),
            loading_function: compile(r"(?i)(?:url|src|image-set|image)\s*\("),
            placeholder: compile("\u{1}([0-9]+)\u{2}"),
        }
    })
}

/// Whether a `url()` target may stay: an inline raster image, or an absolute path on the
/// page's own origin. Only characters that need no escaping are allowed, so nothing in the
/// target can end the string it is written into, and nothing the URL parser drops (tab,
/// newline) can turn `/\t/host` into the protocol-relative `//host`.
fn safe_url_target(target: &str) -> bool {
    let lowercase = target.to_ascii_lowercase();
    let inline_image =
        lowercase.starts_with("data:image/") && !lowercase.starts_with("data:image/svg");
    let same_origin_path = target.starts_with('/') && !target.starts_with("//");
    (inline_image || same_origin_path)
        && target
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~!$&*+,;=:@%/?#[]".contains(&byte))
}

/// Sanitises a tenant's custom CSS so it can be inlined in a `<style>` element: it cannot
/// close the element (`<` is removed), run script (`expression()`, `javascript:`, bindings)
/// or load anything from another origin: `@import` is removed, and every `url()` except
/// `data:image/` (not SVG) and same-origin paths becomes `none`, as do `src()`, `image()`
/// and `image-set()`, whose strings are URLs. Backslash escapes are removed, since they
/// could spell any of these, and so are control characters.
///
/// # Guarantees
///
/// The result contains no `<`, no `\`, no `@import`, and no `url(`, `src(`, `image(` or
/// `image-set(` (in any case, with or without space before the parenthesis) other than
/// `url("<safe target>")`. Comments are removed outright, so a keyword they split is seen
/// whole by the later passes; every later removal leaves a space, so what is left on
/// either side cannot join into a new keyword.
pub fn sanitize_css(css: &str) -> String {
    let patterns = css_patterns();
    let text: String = css
        .chars()
        .filter(|c| *c != '<' && *c != '\\' && (!c.is_control() || c.is_whitespace()))
        .collect();
    let text = patterns.comment.replace_all(&text, "");
    let mut safe_targets: Vec<String> = Vec::new();
    let text = patterns
        .closed_url
        .replace_all(&text, |captures: &regex::Captures<'_>| {
            let target = captures
                .get(1)
                .or_else(|| captures.get(2))
                .or_else(|| captures.get(3))
                .map_or("", |target| target.as_str().trim());
            if safe_url_target(target) {
                safe_targets.push(target.to_string());
                format!(
                    "{PLACEHOLDER_START}{}{PLACEHOLDER_END}",
                    safe_targets.len() - 1
                )
            } else {
                "none".to_string()
            }
        });
    let text = patterns.at_rule.replace_all(&text, " ");
    let text = patterns.script.replace_all(&text, " /*removed*/ ");
    let text = patterns.loading_function.replace_all(&text, "none(");
    patterns
        .placeholder
        .replace_all(&text, |captures: &regex::Captures<'_>| {
            captures[1]
                .parse::<usize>()
                .ok()
                .and_then(|index| safe_targets.get(index))
                .map_or_else(|| "none".to_string(), |target| format!("url(\"{target}\")"))
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that `css` can load nothing: no `@import`, no `<` or `\`, and every function
    /// that takes a URL is a `url("…")` with a safe target.
    fn assert_inert(css: &str) {
        assert!(!css.contains(['<', '\\']), "< or \\ survived in {css}");
        assert!(
            !css.to_ascii_lowercase().contains("@import"),
            "@import survived in {css}"
        );
        let loading = Regex::new(r"(?i)(url|src|image-set|image)\s*\(").expect("pattern");
        for found in loading.find_iter(css) {
            let rest = &css[found.start()..];
            let target = rest
                .strip_prefix("url(\"")
                .and_then(|rest| rest.split_once("\")"))
                .map(|(target, _)| target);
            assert!(
                target.is_some_and(safe_url_target),
                "a loading function survived at {rest:?} in {css}"
            );
        }
    }

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
        assert_inert(&safe);
    }

    #[test]
    fn every_url_that_is_not_closed_and_safe_is_neutralised() {
        for hostile in [
            // Browsers accept a url( left open at the end of the style sheet.
            ".x{background:url(https://evil.example/t.png",
            ".x{background:url(  https://evil.example/t.png  ",
            ".x{background:url(\"https://evil.example/t.png",
            ".x{background:url('https://evil.example/t.png",
            ".x{background:url('https://evil.example/t.png'} .y{width:calc(1px + 2px)}",
            ".x{background:url(\n  https://evil.example/t.png\n)}",
            ".x{background:url(https://evil.example/ t.png)}",
            ".x{background:url\n(https://evil.example/t.png)}",
            ".x{background:url (\"https://evil.example/t.png\")}",
            ".x{background:url(\"https://evil.example/t.png\"x)}",
            ".x{background:url(url(/ok.png) https://evil.example/t.png)}",
            ".x{background:URL(https://evil.example/t.png)}",
            ".x{background:uRl(\"https://evil.example/t.png\")}",
            // The URL parser drops tab and newline, turning these into //evil.example.
            ".x{background:url(/\t/evil.example/t.png)}",
            ".x{background:url(\"/\n/evil.example/t.png\")}",
            ".x{background:url('/\r/evil.example/t.png')}",
            ".x{background:url(//evil.example/t.png)}",
            ".x{background:url(http://evil.example/t.png)}",
            ".x{background:url(evil.example/t.png)}",
            // SVG documents and other media types are not inline raster images.
            ".x{background:url(data:image/svg+xml;base64,PHN2Zz4=)}",
            ".x{background:url(DATA:IMAGE/SVG+XML;base64,PHN2Zz4=)}",
            ".x{background:url(data:image/SVG+xml,%3Csvg%3E)}",
            ".x{background:url(data:text/css,evil)}",
        ] {
            assert_inert(&sanitize_css(hostile));
        }
        assert_eq!(
            sanitize_css(".x{background:url(https://evil.example/t.png"),
            ".x{background:none(https://evil.example/t.png"
        );
    }

    #[test]
    fn every_other_way_of_loading_from_another_origin_is_neutralised() {
        for hostile in [
            "@font-face { font-family: Evil; src: url(https://evil.example/f.woff2) format(\"woff2\"), local(Arial); }",
            "@font-face { font-family: Evil; src: url(\"https://evil.example/f.woff2\" }",
            "@import \"https://evil.example/a.css\";",
            "@import url(https://evil.example/b.css) screen and (min-width: 1px);",
            "@import 'https://evil.example/c.css'",
            "@media all { @import \"https://evil.example/d.css\"; }",
            "@imp@import;ort \"https://evil.example/e.css\";",
            "@im/**/port \"https://evil.example/f.css\";",
            "@namespace svg url(https://evil.example/ns);",
            ".i { background: image(\"https://evil.example/i.png\") }",
            ".i { background: image(url(https://evil.example/i.png), red) }",
            ".i { background: image-set(\"https://evil.example/i.png\" 1x, \"https://evil.example/j.png\" 2x) }",
            ".i { background: -webkit-image-set(\"https://evil.example/i.png\" 1x) }",
            ".i { background: -webkit-image-set(url(https://evil.example/i.png) 1x) }",
            ".i { background: Image-Set (\"https://evil.example/i.png\" 1x) }",
            ".i { background: cross-fade(url(https://evil.example/a.png), url(https://evil.example/b.png), 50%) }",
            ".i { background: -webkit-cross-fade(url(https://evil.example/a.png), url(/b.png), 50%) }",
            ".i { background: src(\"https://evil.example/s.png\") }",
            ".i { background: SRC (\"https://evil.example/s.png\") }",
            ".c { cursor: url(https://evil.example/c.cur), auto }",
            ".l { list-style: url(https://evil.example/l.png) disc }",
            ".l { list-style-image: url('https://evil.example/l.png') }",
            ".b { border-image: url(https://evil.example/b.png) 30 round }",
            ".m { mask-image: url(https://evil.example/m.svg); -webkit-mask: url(https://evil.example/m.svg) }",
            ".f { filter: url(https://evil.example/f.svg#blur); clip-path: url(https://evil.example/c.svg#p) }",
            ".k::before { content: url(https://evil.example/k.png) }",
            "@-moz-document url-prefix(https://evil.example/) { .x { color: red } }",
            "@counter-style evil { system: cyclic; symbols: url(https://evil.example/s.png); }",
            ".v { --u: url(https://evil.example/v.png); background: var(--u) }",
            // Escapes, control characters and comments cannot hide a keyword.
            ".e { background: u\\rl(https://evil.example/e.png) }",
            ".e { background: \\75 rl(https://evil.example/e.png) }",
            ".e { background: \\000075rl(https://evil.example/e.png) }",
            ".e { background: u\u{0}rl(https://evil.example/e.png) }",
            ".e { background: ur<l(https://evil.example/e.png) }",
            ".e { background: ur/* ) */l(https://evil.example/e.png) }",
            "@\\69mport \"https://evil.example/g.css\";",
            ".e { background: url(/ok.png) /* unterminated comment url(https://evil.example/e.png)",
            // A forged placeholder is only control characters, which are stripped.
            ".p { background: \u{1}0\u{2} }",
            // Script vectors.
            ".s { width: expression(alert(1)); behavior: url(x.htc); -moz-binding: url(x.xml#x) }",
            ".s { background: url(javascript:alert(1)); background: url( JavaScript : alert(1)) }",
            ".s { background: url(vbscript:msgbox(1)) }",
        ] {
            let safe = sanitize_css(hostile);
            assert_inert(&safe);
            for forbidden in [
                "expression(",
                "javascript",
                "vbscript",
                "-moz-binding",
                "behavior",
            ] {
                assert!(
                    !safe.to_lowercase().contains(forbidden),
                    "{forbidden} survived in {safe:?} (from {hostile:?})"
                );
            }
        }
        // Fonts by family name, and local fonts, stay.
        let local_font =
            "@font-face { font-family: Brand; src: local(\"Segoe UI\"), local(Arial); }";
        assert_eq!(sanitize_css(local_font), local_font);
    }

    #[test]
    fn safe_urls_are_kept_quoted() {
        assert_eq!(
            sanitize_css(
                ".a { background: url( /assets/bg.png ) } .b { background: url('/b.png?v=2#x') }"
            ),
            ".a { background: url(\"/assets/bg.png\") } .b { background: url(\"/b.png?v=2#x\") }"
        );
        assert_eq!(
            sanitize_css(".a { background: url(\"data:image/webp;base64,UklGRg==\") }"),
            ".a { background: url(\"data:image/webp;base64,UklGRg==\") }"
        );
        // A safe path that spells a script scheme is still only a path.
        assert_inert(&sanitize_css(".a { background: url(/javascript:x) }"));
    }

    #[test]
    fn harmless_css_is_kept_as_written() {
        let harmless = ":root { --brand: #0f3d5e; }\n\
            body { font-family: \"Segoe UI\", Roboto, sans-serif; color: rgb(17 24 39 / 90%); }\n\
            main > h1 { display: grid; grid-template-columns: 1fr 2fr; gap: calc(1rem + 2px); border-top: 7px solid var(--brand); }\n\
            @media (max-width: 600px) { main { margin: 0; } }\n\
            .switch a:hover { background: linear-gradient(90deg, #fff 0%, #eee 100%); }\n\
            @keyframes fade { from { opacity: 0 } to { opacity: 1 } }\n\
            h1::after { content: \"→\"; }\n\
            .card:is(.x, .y) { box-shadow: 0 1px 2px rgba(0, 0, 0, .2); transform: translateX(-50%); }";
        assert_eq!(sanitize_css(harmless), harmless);
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

    fn document(value: serde_json::Value) -> BrandingDocument {
        serde_json::from_value(value).expect("branding shape")
    }

    #[test]
    fn header_and_footer_are_shown_unless_explicitly_hidden() {
        let shown = |layout: serde_json::Value, header_logo: bool| {
            let mut content = serde_json::json!({ "loginPageLayoutConfiguration": layout });
            if header_logo {
                content["headerLogo"] = "https://contoso.example/logo.png".into();
            }
            let brand = view(&content_for(
                &document(serde_json::json!({ "default": content })),
                "en",
            ));
            (brand.show_header, brand.show_footer)
        };
        let unconfigured = view(&BrandingContent::default());
        assert!(
            unconfigured.show_header && unconfigured.show_footer,
            "default true"
        );
        assert_eq!(shown(serde_json::json!({}), false), (true, true));
        assert_eq!(shown(serde_json::json!({}), true), (true, true));
        assert_eq!(
            shown(
                serde_json::json!({ "isHeaderShown": false, "isFooterShown": false }),
                true
            ),
            (false, false),
            "an explicit false wins over a header logo"
        );
        assert_eq!(
            shown(
                serde_json::json!({ "isHeaderShown": true, "isFooterShown": true }),
                false
            ),
            (true, true)
        );
        let split = view(&content_for(
            &document(
                serde_json::json!({ "default": { "loginPageLayoutConfiguration": { "layoutTemplateType": "verticalSplit" } } }),
            ),
            "en",
        ));
        assert_eq!((split.layout, split.show_header), ("vertical-split", true));
    }

    #[test]
    fn override_keys_are_entra_keys_or_the_runtime_keys() {
        use crate::contract::branding::{
            ENTRA_STRING_KEYS, internal_string_keys, string_override_key,
        };
        assert_eq!(string_override_key("SignIn_Title"), Some("sign_in_title"));
        assert_eq!(
            string_override_key("SignIn_Description"),
            Some("sign_in_subtitle")
        );
        assert_eq!(string_override_key("SignUp_Title"), Some("sign_up_title"));
        assert_eq!(
            string_override_key("AttributeCollection_Title"),
            Some("sign_up_title")
        );
        assert_eq!(
            string_override_key("Attribute_City"),
            Some("attribute_city")
        );
        assert_eq!(
            string_override_key("Attribute_Password"),
            Some("new_password_label")
        );
        assert_eq!(
            string_override_key("sign_in_button"),
            Some("sign_in_button")
        );
        for unknown in [
            "signin_title",
            "SignIn_title",
            "Attribute_loyaltyNumber",
            "",
            "nope",
        ] {
            assert_eq!(string_override_key(unknown), None, "{unknown}");
        }
        // The table stays in step with the built-in strings: every key it names exists, and
        // every built-in string is an override key of its own.
        let english = crate::runtime::i18n::built_in_strings("en");
        assert_eq!(
            internal_string_keys().iter().copied().collect::<Vec<_>>(),
            english.keys().map(String::as_str).collect::<Vec<_>>()
        );
        for (entra, internal) in ENTRA_STRING_KEYS {
            assert!(
                english.contains_key(internal),
                "{entra} sets unknown {internal}"
            );
            assert!(
                !english.contains_key(entra),
                "{entra} is also a runtime key"
            );
        }
        for key in english.keys() {
            assert_eq!(string_override_key(key), Some(key.as_str()));
        }
    }

    #[test]
    fn string_overrides_take_entra_and_runtime_keys_by_precedence() {
        let branding = document(serde_json::json!({
            "strings": {
                "fr": {
                    "SignIn_Title": "Connexion à Contoso",
                    "AttributeCollection_Title": "Ajoutez vos informations",
                    "SignUp_Title": "Créer votre compte",
                    "Attribute_City": "Ville de résidence",
                    "SignIn_Description": "pour Contoso",
                    "sign_in_subtitle": "chez {client}",
                    "Attribute_loyaltyNumber": "Numéro de fidélité",
                    "unknown_key": "ignoré"
                },
                "de-CH": { "SignIn_Title": "Anmelden bei Contoso" }
            }
        }));
        let mut strings = crate::runtime::i18n::built_in_strings("fr");
        let untouched = strings.clone();
        apply_strings(&mut strings, &branding, "fr");
        assert_eq!(strings["sign_in_title"], "Connexion à Contoso");
        assert_eq!(
            strings["sign_up_title"], "Créer votre compte",
            "SignUp_Title wins"
        );
        assert_eq!(strings["attribute_city"], "Ville de résidence");
        assert_eq!(
            strings["sign_in_subtitle"], "chez {client}",
            "the runtime key wins"
        );
        assert!(!strings.contains_key("unknown_key"));
        assert!(!strings.contains_key("Attribute_loyaltyNumber"));
        assert_eq!(strings.len(), untouched.len(), "only known strings change");
        let mut swiss = crate::runtime::i18n::built_in_strings("de");
        apply_strings(&mut swiss, &branding, "de-CH");
        assert_eq!(swiss["sign_in_title"], "Anmelden bei Contoso");
        let mut german = crate::runtime::i18n::built_in_strings("de");
        apply_strings(&mut german, &branding, "de");
        assert_eq!(german, crate::runtime::i18n::built_in_strings("de"));
    }

    #[test]
    fn attribute_labels_are_overridden_by_entra_attribute_keys() {
        let branding = document(serde_json::json!({
            "strings": {
                "fr": {
                    "Attribute_loyaltyNumber": "Numéro de fidélité",
                    "Attribute_City": "Ville",
                    "Attribute_extension_82936c774db949fcac549215e8857017_shoeSize": "Pointure",
                    "Attribute_extension_notanappid_plan": "Formule"
                },
                "en": { "Attribute_displayName": "Public name" }
            }
        }));
        let label = |language: &str, attribute: &str| {
            attribute_label_override(&branding, language, attribute)
        };
        assert_eq!(
            label("fr", "loyaltyNumber").as_deref(),
            Some("Numéro de fidélité")
        );
        assert_eq!(label("fr", "city").as_deref(), Some("Ville"));
        assert_eq!(label("fr", "shoeSize").as_deref(), Some("Pointure"));
        assert_eq!(label("fr", "plan"), None);
        assert_eq!(label("fr-CA", "city").as_deref(), Some("Ville"));
        assert_eq!(label("en", "displayName").as_deref(), Some("Public name"));
        assert_eq!(label("en", "loyaltyNumber"), None);
        assert_eq!(label("de", "city"), None);
        assert_eq!(
            attribute_label_override(&BrandingDocument::default(), "en", "city"),
            None
        );
    }
}
