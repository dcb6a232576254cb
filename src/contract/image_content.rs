//! Recognises branding images by their content: raster formats by their magic bytes, SVG by
//! parsing it as XML and refusing anything in it that could run code or load from elsewhere.
//!
//! One implementation serves both doors images come through, so both refuse the same files:
//! the operator, for ConfigMap content (`controller::desired`), and the runtime's admin API,
//! for `data:` URIs in a branding document (`contract::branding`).
//!
//! Hosted pages show images with `<img>`, where a browser runs no SVG script; the checks are
//! still worth their few lines, because the same bytes are a document of their own when
//! opened directly or saved, and because "an SVG" that is really an HTML page (with `<svg>`
//! somewhere inside) should be refused as what it is rather than served as an image.
//!
//! An SVG is accepted when it is well-formed XML with an `svg` root element in the SVG
//! namespace and has none of: a DOCTYPE (and so no entity declarations), a processing
//! instruction (`<?xml-stylesheet …?>`), a `script` or `handler` element, a `foreignObject`,
//! an event-handler attribute (`on…`), an `href` (or `xlink:href`) that is not a fragment of
//! the image itself (`#id`), a `url(…)` other than `url(#id)`, CSS `@import` or CSS escapes
//! (which could spell either), or an animation of `href` or an event handler.

use roxmltree::{Attribute, Document, Node, NodeType, ParsingOptions};

/// Namespace of SVG elements.
const SVG_NAMESPACE: &str = "http://www.w3.org/2000/svg";

/// Namespace of `xlink:href`.
const XLINK_NAMESPACE: &str = "http://www.w3.org/1999/xlink";

/// An image format the hosted pages accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// GIF (87a or 89a).
    Gif,
    /// WebP.
    Webp,
    /// Windows icon.
    Ico,
    /// SVG that passed the checks of this module.
    Svg,
}

impl ImageFormat {
    /// The media type to put in a `data:` URI.
    pub fn media_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Ico => "image/x-icon",
            ImageFormat::Svg => "image/svg+xml",
        }
    }

    /// Whether `media_type` (as declared by a `data:` URI) names this format; icons have two
    /// names in use.
    pub fn is_named_by(self, media_type: &str) -> bool {
        media_type == self.media_type()
            || (self == ImageFormat::Ico && media_type == "image/vnd.microsoft.icon")
    }
}

/// Why content is not an acceptable image. The messages complete "`<field>`: …".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageContentError {
    /// Neither a known raster format nor XML.
    #[error("not a PNG, JPEG, GIF, WebP, ICO or SVG image")]
    UnknownFormat,
    /// Looks like markup but is not well-formed XML (an HTML page, for example).
    #[error("not an SVG image: the content is not well-formed XML ({0})")]
    MalformedXml(String),
    /// Well-formed XML whose root is not `<svg>` in the SVG namespace.
    #[error("not an SVG image: the root element is {0}, not svg in the SVG namespace")]
    NotSvgRoot(String),
    /// A DOCTYPE, which is where entities (and external DTDs) are declared.
    #[error("SVG contains a DOCTYPE (entity declarations are refused)")]
    Doctype,
    /// A processing instruction such as `<?xml-stylesheet href=…?>`.
    #[error("SVG contains a processing instruction")]
    ProcessingInstruction,
    /// A `script` (or SVG Tiny `handler`) element.
    #[error("SVG contains a script")]
    Script,
    /// A `foreignObject`, which embeds HTML.
    #[error("SVG contains a foreignObject")]
    ForeignObject,
    /// An event-handler attribute such as `onload`.
    #[error("SVG contains an event-handler attribute ({0})")]
    EventHandler(String),
    /// A reference to something outside the image.
    #[error("SVG refers to an external resource ({0})")]
    ExternalReference(String),
    /// An animation that sets a link or an event handler (`<set attributeName="href" …>`).
    #[error("SVG animates the {0} attribute")]
    AnimatedReference(String),
}

/// Recognises `bytes` as an accepted image format: raster formats by their magic bytes,
/// anything else that starts like markup as SVG, checked.
///
/// # Errors
/// Says why the content is not an acceptable image.
pub fn recognise(bytes: &[u8]) -> Result<ImageFormat, ImageContentError> {
    if let Some(format) = raster_format(bytes) {
        return Ok(format);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| ImageContentError::UnknownFormat)?;
    if !text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('<')
    {
        return Err(ImageContentError::UnknownFormat);
    }
    check_svg(text)?;
    Ok(ImageFormat::Svg)
}

/// The raster format whose signature `bytes` start with.
fn raster_format(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(ImageFormat::Gif)
    } else if bytes.len() > 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some(ImageFormat::Webp)
    } else if bytes.starts_with(&[0, 0, 1, 0]) {
        Some(ImageFormat::Ico)
    } else {
        None
    }
}

/// Checks that `text` is an SVG document with nothing active or external in it.
///
/// # Errors
/// The first reason found to refuse it.
pub fn check_svg(text: &str) -> Result<(), ImageContentError> {
    // DTDs stay refused (the default, made explicit): entity declarations are how XML
    // documents expand or pull in content the reader never sees.
    let options = ParsingOptions {
        allow_dtd: false,
        ..ParsingOptions::default()
    };
    let document = Document::parse_with_options(text, options).map_err(|error| match error {
        roxmltree::Error::DtdDetected => match doctype_name(text) {
            Some(name) if !name.eq_ignore_ascii_case("svg") => {
                ImageContentError::NotSvgRoot(name.to_string())
            }
            _ => ImageContentError::Doctype,
        },
        other => ImageContentError::MalformedXml(other.to_string()),
    })?;
    let root = document.root_element();
    if root.tag_name().name() != "svg" || root.tag_name().namespace() != Some(SVG_NAMESPACE) {
        return Err(ImageContentError::NotSvgRoot(
            root.tag_name().name().to_string(),
        ));
    }
    document.descendants().try_for_each(check_node)
}

/// The name a DOCTYPE declares (`html` in `<!DOCTYPE html>`), so that an HTML page is refused
/// as not an SVG rather than as an SVG with a DOCTYPE.
fn doctype_name(text: &str) -> Option<&str> {
    let (_, rest) = text.split_once("<!DOCTYPE")?;
    rest.split(|c: char| c.is_whitespace() || matches!(c, '>' | '['))
        .find(|word| !word.is_empty())
}

fn check_node(node: Node) -> Result<(), ImageContentError> {
    match node.node_type() {
        NodeType::PI => Err(ImageContentError::ProcessingInstruction),
        NodeType::Element => check_element(node),
        NodeType::Root | NodeType::Comment | NodeType::Text => Ok(()),
    }
}

fn check_element(element: Node) -> Result<(), ImageContentError> {
    // Compared without case: SVG is case-sensitive, but an HTML parser reading the same bytes
    // (a browser sniffing a saved file) is not.
    let name = element.tag_name().name();
    if name.eq_ignore_ascii_case("script") || name.eq_ignore_ascii_case("handler") {
        return Err(ImageContentError::Script);
    }
    if name.eq_ignore_ascii_case("foreignObject") {
        return Err(ImageContentError::ForeignObject);
    }
    if name.eq_ignore_ascii_case("style") {
        let css: String = element
            .descendants()
            .filter_map(|node| node.is_text().then(|| node.text()).flatten())
            .collect();
        if let Some(found) = external_css_reference(&css) {
            return Err(ImageContentError::ExternalReference(format!(
                "{found} in a style element"
            )));
        }
    }
    element
        .attributes()
        .try_for_each(|attribute| check_attribute(name, &attribute))
}

fn check_attribute(element: &str, attribute: &Attribute) -> Result<(), ImageContentError> {
    let name = attribute.name();
    let value = attribute.value().trim();
    if is_event_handler(name) {
        return Err(ImageContentError::EventHandler(name.to_string()));
    }
    if name == "href" && !value.starts_with('#') {
        let qualified = if attribute.namespace() == Some(XLINK_NAMESPACE) {
            "xlink:href"
        } else {
            "href"
        };
        return Err(ImageContentError::ExternalReference(format!(
            "{qualified} of {element}"
        )));
    }
    if name == "attributeName" {
        let target = value.rsplit(':').next().unwrap_or(value);
        if target == "href" || is_event_handler(target) {
            return Err(ImageContentError::AnimatedReference(value.to_string()));
        }
    }
    match external_css_reference(value) {
        Some(found) => Err(ImageContentError::ExternalReference(format!(
            "{found} in the {name} attribute of {element}"
        ))),
        None => Ok(()),
    }
}

/// Whether an attribute name is an event handler (`onload`, `onclick`, `onbegin`, …); no
/// other SVG attribute starts with `on`.
fn is_event_handler(name: &str) -> bool {
    name.get(..2)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("on"))
}

/// The first thing in CSS (a style sheet, a `style` attribute or a presentation attribute
/// such as `fill`) that could load from outside the image: `@import`, a `url()` whose target
/// is not a fragment (`#id`), or a backslash, since CSS escapes could spell either.
fn external_css_reference(css: &str) -> Option<&'static str> {
    let lowercase = css.to_ascii_lowercase();
    if lowercase.contains("@import") {
        return Some("@import");
    }
    if lowercase.contains('\\') {
        return Some("a CSS escape");
    }
    let mut rest = lowercase.as_str();
    while let Some(index) = rest.find("url") {
        rest = &rest[index + "url".len()..];
        let Some(argument) = rest.trim_start().strip_prefix('(') else {
            continue;
        };
        let target = argument.trim_start().trim_start_matches(['"', '\'']);
        if !target.starts_with('#') {
            return Some("url()");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real small files under `tests/images/`.
    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/images")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    }

    #[test]
    fn raster_images_are_recognised_by_their_magic_bytes() {
        for (file, format) in [
            ("pixel.png", ImageFormat::Png),
            ("pixel.jpg", ImageFormat::Jpeg),
            ("pixel.gif", ImageFormat::Gif),
            ("pixel.webp", ImageFormat::Webp),
            ("pixel.ico", ImageFormat::Ico),
        ] {
            assert_eq!(recognise(&fixture(file)), Ok(format), "{file}");
        }
        assert_eq!(
            recognise(b"just some text"),
            Err(ImageContentError::UnknownFormat)
        );
        assert_eq!(
            recognise(&[0xff, 0xfe, 0x3c, 0x00]),
            Err(ImageContentError::UnknownFormat)
        );
    }

    #[test]
    fn a_plain_svg_logo_is_accepted() {
        assert_eq!(recognise(&fixture("logo.svg")), Ok(ImageFormat::Svg));
        // Internal references (a gradient, a reused shape) stay allowed.
        let internal = r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">
            <defs><linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient>
            <circle id="c" r="4"/></defs>
            <rect width="9" height="9" fill="url(#g)" style="stroke: url( '#g' )"/>
            <use href="#c"/><use xlink:href="#c"/></svg>"##;
        assert_eq!(recognise(internal.as_bytes()), Ok(ImageFormat::Svg));
    }

    #[test]
    fn an_html_page_with_an_svg_inside_is_not_an_svg() {
        assert_eq!(
            recognise(&fixture("page-with-svg.html")),
            Err(ImageContentError::NotSvgRoot("html".into()))
        );
        let without_doctype =
            b"<html><body><svg xmlns=\"http://www.w3.org/2000/svg\"/><br></body></html>";
        assert!(matches!(
            recognise(without_doctype),
            Err(ImageContentError::MalformedXml(_))
        ));
        let xhtml = br#"<html xmlns="http://www.w3.org/1999/xhtml"><body><svg xmlns="http://www.w3.org/2000/svg"/></body></html>"#;
        assert_eq!(
            recognise(xhtml),
            Err(ImageContentError::NotSvgRoot("html".into()))
        );
        let wrong_namespace = br#"<svg><rect width="1" height="1"/></svg>"#;
        assert_eq!(
            recognise(wrong_namespace),
            Err(ImageContentError::NotSvgRoot("svg".into()))
        );
    }

    #[test]
    fn active_svg_content_is_refused() {
        assert_eq!(
            recognise(&fixture("script.svg")),
            Err(ImageContentError::Script)
        );
        assert_eq!(
            recognise(&fixture("onload.svg")),
            Err(ImageContentError::EventHandler("onload".into()))
        );
        for (svg, expected) in [
            (
                r#"<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject></svg>"#,
                ImageContentError::ForeignObject,
            ),
            (
                r#"<svg xmlns="http://www.w3.org/2000/svg"><SCRIPT>alert(1)</SCRIPT></svg>"#,
                ImageContentError::Script,
            ),
            (
                r#"<svg xmlns="http://www.w3.org/2000/svg"><a><set attributeName="href" to="javascript:alert(1)"/></a></svg>"#,
                ImageContentError::AnimatedReference("href".into()),
            ),
            (
                r#"<?xml-stylesheet href="https://evil.example/x.css"?><svg xmlns="http://www.w3.org/2000/svg"/>"#,
                ImageContentError::ProcessingInstruction,
            ),
        ] {
            assert_eq!(recognise(svg.as_bytes()), Err(expected), "{svg}");
        }
    }

    #[test]
    fn external_references_are_refused() {
        assert_eq!(
            recognise(&fixture("external-href.svg")),
            Err(ImageContentError::ExternalReference(
                "xlink:href of image".into()
            ))
        );
        for svg in [
            r#"<svg xmlns="http://www.w3.org/2000/svg"><use href="https://evil.example/sprite.svg#a"/></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><rect/></a></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><image href="data:image/png;base64,AAAA"/></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill: URL(https://evil.example/p.svg#x)"/></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><rect fill="url( 'https://evil.example/p.svg#x' )"/></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><style>@import "https://evil.example/x.css";</style></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><style><![CDATA[rect { fill: url(//evil.example/p) }]]></style></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><style>rect { fill: u\72l(https://evil.example/p) }</style></svg>"#,
        ] {
            assert!(
                matches!(
                    recognise(svg.as_bytes()),
                    Err(ImageContentError::ExternalReference(_))
                ),
                "{svg}"
            );
        }
    }

    #[test]
    fn doctypes_and_entities_are_refused() {
        assert_eq!(
            recognise(&fixture("doctype-entity.svg")),
            Err(ImageContentError::Doctype)
        );
        // Without a DOCTYPE an entity cannot be declared, so a reference to one is malformed.
        let undeclared = br#"<svg xmlns="http://www.w3.org/2000/svg"><text>&xxe;</text></svg>"#;
        assert!(matches!(
            recognise(undeclared),
            Err(ImageContentError::MalformedXml(_))
        ));
    }

    #[test]
    fn media_types_name_their_format() {
        assert!(ImageFormat::Ico.is_named_by("image/vnd.microsoft.icon"));
        assert!(ImageFormat::Ico.is_named_by("image/x-icon"));
        assert!(ImageFormat::Svg.is_named_by("image/svg+xml"));
        assert!(!ImageFormat::Png.is_named_by("image/svg+xml"));
    }
}
