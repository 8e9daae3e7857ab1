//! OCI images without a Docker engine: [`build`] writes an OCI image-layout directory (one
//! uncompressed layer, config, manifest, `index.json` naming the tag) that is byte-for-byte
//! reproducible, and [`Image::open`] reads one back, checking every digest, so the pod runner
//! can unpack it as a container's root filesystem. Types are `oci-spec`'s.

pub mod elf;
pub mod tar;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, bail, ensure};
use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, ImageConfiguration,
    ImageConfigurationBuilder, ImageIndex, ImageIndexBuilder, ImageManifest, ImageManifestBuilder,
    MediaType, OciLayoutBuilder, Os, RootFsBuilder, Sha256Digest,
};

pub use tar::Entry;

/// The workspace version: the tag of every image `make images` builds.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The harness's application image, as pod manifests in tests name it.
pub const TEST_APP_IMAGE: &str = concat!("kagi-test-app:", env!("CARGO_PKG_VERSION"));
/// The unprivileged user of every image (distroless calls it `nonroot`).
pub const NONROOT: u32 = 65532;
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// What goes into an image.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub tag: String,
    pub files: Vec<Entry>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
}

/// `/etc/passwd` and `/etc/group` with root and the non-root user 65532, and nothing else.
pub fn nonroot_user_files() -> Vec<Entry> {
    let file = |path: &str, text: String| Entry::File {
        path: path.to_string(),
        mode: 0o644,
        contents: text.into_bytes(),
    };
    vec![
        file(
            "etc/passwd",
            format!(
                "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
            ),
        ),
        file("etc/group", format!("root:x:0:\nnonroot:x:{NONROOT}:\n")),
    ]
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn write_blob(layout: &Path, media_type: MediaType, bytes: &[u8]) -> anyhow::Result<Descriptor> {
    let hex = sha256_hex(bytes);
    let path = layout.join("blobs/sha256").join(&hex);
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(DescriptorBuilder::default()
        .media_type(media_type)
        .digest(Sha256Digest::from_str(&hex)?)
        .size(bytes.len() as u64)
        .build()?)
}

/// Writes the image layout at `layout` (replacing what is there); returns the manifest digest
/// (`sha256:…`). No timestamps, owners 0:0, sorted entries: the same spec gives the same digest.
pub fn build(spec: &ImageSpec, layout: &Path) -> anyhow::Result<String> {
    if layout.exists() {
        std::fs::remove_dir_all(layout)
            .with_context(|| format!("removing the old layout {}", layout.display()))?;
    }
    std::fs::create_dir_all(layout.join("blobs/sha256"))
        .with_context(|| format!("creating {}", layout.display()))?;
    let layer = tar::write(&spec.files)?;
    let layer = write_blob(layout, MediaType::ImageLayer, &layer)?;
    let config = ImageConfigurationBuilder::default()
        .architecture(Arch::Amd64)
        .os(Os::Linux)
        .config(
            ConfigBuilder::default()
                .user(format!("{NONROOT}:{NONROOT}"))
                .entrypoint(spec.entrypoint.clone())
                .cmd(spec.cmd.clone())
                .env(spec.env.clone())
                .build()?,
        )
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![layer.digest().to_string()])
                .build()?,
        )
        .build()?;
    let config = write_blob(
        layout,
        MediaType::ImageConfig,
        &serde_json::to_vec(&config)?,
    )?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(vec![layer])
        .build()?;
    let mut manifest = write_blob(
        layout,
        MediaType::ImageManifest,
        &serde_json::to_vec(&manifest)?,
    )?;
    manifest.set_annotations(Some(HashMap::from([(
        REF_NAME.to_string(),
        spec.tag.clone(),
    )])));
    let digest = manifest.digest().to_string();
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![manifest])
        .build()?;
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index)?)?;
    let marker = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()?;
    std::fs::write(layout.join("oci-layout"), serde_json::to_vec(&marker)?)?;
    Ok(digest)
}

/// An image read from a layout, digests checked.
#[derive(Debug, Clone)]
pub struct Image {
    pub layout: PathBuf,
    pub manifest_digest: String,
    pub config: ImageConfiguration,
    layers: Vec<Descriptor>,
}

impl Image {
    /// The image tagged `tag` in the layout directory `layout`; a missing or corrupt layout is
    /// an error naming the path (and `make images`, which builds them).
    pub fn open(layout: &Path, tag: &str) -> anyhow::Result<Image> {
        let hint = "(`make images` builds the images)";
        ensure!(
            layout.join("oci-layout").is_file(),
            "{} is not an OCI image layout: no oci-layout file {hint}",
            layout.display()
        );
        let index_path = layout.join("index.json");
        let index: ImageIndex = serde_json::from_slice(
            &std::fs::read(&index_path)
                .with_context(|| format!("reading {} {hint}", index_path.display()))?,
        )
        .with_context(|| format!("{} is not an OCI image index", index_path.display()))?;
        let tags: Vec<&str> = index
            .manifests()
            .iter()
            .filter_map(|m| m.annotations().as_ref()?.get(REF_NAME).map(String::as_str))
            .collect();
        let Some(descriptor) = index.manifests().iter().find(|m| {
            m.annotations()
                .as_ref()
                .and_then(|a| a.get(REF_NAME))
                .is_some_and(|t| t == tag)
        }) else {
            bail!(
                "{} has no image tagged {tag:?} (tags: {tags:?}) {hint}",
                layout.display()
            );
        };
        let manifest: ImageManifest = serde_json::from_slice(&read_blob(layout, descriptor)?)
            .with_context(|| format!("{}: manifest is not an OCI manifest", layout.display()))?;
        let config: ImageConfiguration =
            serde_json::from_slice(&read_blob(layout, manifest.config())?).with_context(|| {
                format!("{}: config is not an OCI image config", layout.display())
            })?;
        Ok(Image {
            layout: layout.to_path_buf(),
            manifest_digest: descriptor.digest().to_string(),
            config,
            layers: manifest.layers().clone(),
        })
    }

    /// Every file and directory of the image, layers applied in order.
    pub fn entries(&self) -> anyhow::Result<Vec<Entry>> {
        let mut entries = Vec::new();
        for layer in &self.layers {
            ensure!(
                *layer.media_type() == MediaType::ImageLayer,
                "{}: layer {} is {}; only uncompressed tar layers are read",
                self.layout.display(),
                layer.digest(),
                layer.media_type()
            );
            let bytes = read_blob(&self.layout, layer)?;
            entries.extend(
                tar::read(&bytes).with_context(|| {
                    format!("{}: layer {}", self.layout.display(), layer.digest())
                })?,
            );
        }
        Ok(entries)
    }

    /// Writes the image's files under `rootfs` (owned by root, modes as in the image).
    pub fn unpack(&self, rootfs: &Path) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(rootfs)?;
        for entry in self.entries()? {
            match entry {
                Entry::Dir { path, mode } => {
                    let dir = rootfs.join(path);
                    std::fs::create_dir_all(&dir)?;
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))?;
                }
                Entry::File {
                    path,
                    mode,
                    contents,
                } => {
                    let file = rootfs.join(path);
                    std::fs::write(&file, contents)
                        .with_context(|| format!("unpacking {}", file.display()))?;
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode))?;
                }
            }
        }
        Ok(())
    }

    /// `User` of the image config as uid and gid (`65532:65532`, `65532`; root when unset).
    pub fn user(&self) -> anyhow::Result<(u32, u32)> {
        let user = self
            .config
            .config()
            .as_ref()
            .and_then(|c| c.user().clone())
            .unwrap_or_default();
        if user.is_empty() {
            return Ok((0, 0));
        }
        let (uid, gid) = user.split_once(':').unwrap_or((&user, &user));
        let parse = |s: &str| {
            s.parse::<u32>().with_context(|| {
                format!(
                    "{}: image user {user:?} is not numeric uid[:gid]",
                    self.layout.display()
                )
            })
        };
        Ok((parse(uid)?, parse(gid)?))
    }

    /// `Entrypoint` + `Cmd` and `Env` of the image config.
    pub fn process(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        let config = self.config.config().clone().unwrap_or_default();
        (
            config.entrypoint().clone().unwrap_or_default(),
            config.cmd().clone().unwrap_or_default(),
            config.env().clone().unwrap_or_default(),
        )
    }
}

fn read_blob(layout: &Path, descriptor: &Descriptor) -> anyhow::Result<Vec<u8>> {
    let digest = descriptor.digest();
    let path = layout
        .join("blobs")
        .join(digest.algorithm().as_ref())
        .join(digest.digest());
    let bytes = std::fs::read(&path)
        .with_context(|| format!("reading blob {} (corrupt image layout?)", path.display()))?;
    ensure!(
        bytes.len() as u64 == descriptor.size() && sha256_hex(&bytes) == digest.digest(),
        "blob {} does not match its digest {digest}: the image layout is corrupt",
        path.display()
    );
    Ok(bytes)
}

/// Where `make images` puts the layouts: `target/images`.
pub fn images_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("images")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ImageSpec {
        let mut files = nonroot_user_files();
        files.push(Entry::File {
            path: "usr/local/bin/tool".into(),
            mode: 0o755,
            contents: b"\x7fELF not really".to_vec(),
        });
        ImageSpec {
            tag: "1.2.3".into(),
            files,
            entrypoint: vec!["/usr/local/bin/tool".into()],
            cmd: vec!["run".into()],
            env: vec!["PATH=/usr/local/bin".into()],
        }
    }

    #[test]
    fn layouts_are_reproducible_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = build(&spec(), &dir.path().join("a")).unwrap();
        let second = build(&spec(), &dir.path().join("b")).unwrap();
        assert_eq!(first, second);
        let image = Image::open(&dir.path().join("a"), "1.2.3").unwrap();
        assert_eq!(image.manifest_digest, first);
        assert_eq!(image.user().unwrap(), (NONROOT, NONROOT));
        let root = dir.path().join("root");
        image.unpack(&root).unwrap();
        assert!(
            std::fs::read_to_string(root.join("etc/passwd"))
                .unwrap()
                .contains("65532")
        );
    }

    #[test]
    fn missing_tag_and_corrupt_blobs_name_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("img");
        build(&spec(), &layout).unwrap();
        let err = Image::open(&layout, "9.9").unwrap_err().to_string();
        assert!(err.contains("img") && err.contains("9.9"), "{err}");
        for blob in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
            let path = blob.unwrap().path();
            let mut bytes = std::fs::read(&path).unwrap();
            bytes.push(b' ');
            std::fs::write(&path, bytes).unwrap();
        }
        let err = format!("{:#}", Image::open(&layout, "1.2.3").unwrap_err());
        assert!(err.contains("corrupt"), "{err}");
        let err = format!(
            "{:#}",
            Image::open(&dir.path().join("none"), "1").unwrap_err()
        );
        assert!(err.contains("none") && err.contains("make images"), "{err}");
    }
}
