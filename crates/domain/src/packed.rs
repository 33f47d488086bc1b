//! Visit records packed for storage: a record's JSON text as one zstd frame (level 1) made with
//! [`VISIT_DICT`], the shape every record shares. Both stores that hold many records use it: the
//! device's outbox (a week offline on a small phone) and the SQLite server's `visits.record`
//! (a ~2 KB record becomes ~0.35 KB, so a 10,000-visit push writes a sixth of the bytes to the
//! WAL and the database file, and the server's database and its backups shrink alike).
//!
//! A frame names its dictionary's id and records its content size; a frame without an id (the
//! outbox's before the dictionary) unpacks without one. A new dictionary gets a new id, and every
//! id ever written stays readable here. Text that is not packed is not a zstd frame: JSON starts
//! with `{`, `[`, `"` or a letter, never with the frame's magic number ([`is_packed`]).

/// The zstd dictionary visit records are packed with: field names, outcome and status words, the
/// default questionnaire's question ids, number formats. Trained on synthetic visits by
/// `cargo run --release -p verivali-store --example train_visit_dict` (how, and what it gains:
/// there).
pub const VISIT_DICT: &[u8] = include_bytes!("visit.dict");

/// The id [`VISIT_DICT`] carries ("VV" and 1), in the range zstd leaves to private dictionaries.
pub const VISIT_DICT_ID: u32 = 0x5656_0001;

/// Largest text a frame may claim to hold (a visit is a few KB; a corrupt frame header must not
/// make a reader allocate gigabytes).
pub const MAX_TEXT: u64 = 16 << 20;

/// The first four bytes of every zstd frame (little-endian 0xFD2FB528).
const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Why a packed value could not be read back (or, rarely, made).
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("packed record without a valid size")]
    Size,
    #[error("packed record made with unknown dictionary {0}")]
    UnknownDictionary(u32),
    #[error("packed record is not UTF-8")]
    NotText,
    #[error("packed record is not exactly one zstd frame")]
    NotOneFrame,
    #[error("zstd: {0}")]
    Zstd(#[from] std::io::Error),
}

/// Whether stored bytes are a packed record rather than text.
pub fn is_packed(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// The size of the text a frame says it holds, when it says one within [`MAX_TEXT`] (every frame
/// [`pack`] makes does; [`Unpacker::text`] refuses one that does not).
pub fn text_len(z: &[u8]) -> Option<usize> {
    zstd::zstd_safe::get_frame_content_size(z)
        .ok()
        .flatten()
        .filter(|n| *n <= MAX_TEXT)
        .map(|n| n as usize)
}

/// [`VISIT_DICT`] digested for packing (once per process).
fn cdict() -> &'static zstd::dict::EncoderDictionary<'static> {
    static D: std::sync::OnceLock<zstd::dict::EncoderDictionary<'static>> =
        std::sync::OnceLock::new();
    D.get_or_init(|| zstd::dict::EncoderDictionary::copy(VISIT_DICT, 1))
}

/// [`VISIT_DICT`] digested for unpacking (once per process).
fn ddict() -> &'static zstd::dict::DecoderDictionary<'static> {
    static D: std::sync::OnceLock<zstd::dict::DecoderDictionary<'static>> =
        std::sync::OnceLock::new();
    D.get_or_init(|| zstd::dict::DecoderDictionary::copy(VISIT_DICT))
}

/// Packs record texts, reusing one compression context (make one per thread or per batch).
pub struct Packer(zstd::bulk::Compressor<'static>);

impl Packer {
    pub fn new() -> Result<Self, PackError> {
        Ok(Self(zstd::bulk::Compressor::with_prepared_dictionary(
            cdict(),
        )?))
    }

    /// One frame holding `text`, with its size and the dictionary's id in the header (a one-shot
    /// compression records the size, which [`Unpacker::text`] sizes its buffer by).
    pub fn pack(&mut self, text: &str) -> Result<Vec<u8>, PackError> {
        Ok(self.0.compress(text.as_bytes())?)
    }
}

/// [`Packer::pack`] on this thread's packer (a server's two prepare threads each keep theirs).
pub fn pack(text: &str) -> Result<Vec<u8>, PackError> {
    thread_local! {
        static P: std::cell::RefCell<Option<Packer>> = const { std::cell::RefCell::new(None) };
    }
    P.with(|p| {
        let mut p = p.borrow_mut();
        let packer = match &mut *p {
            Some(x) => x,
            slot => slot.insert(Packer::new()?),
        };
        packer.pack(text)
    })
}

/// Unpacks frames back to text: one context for frames made with [`VISIT_DICT`], one for frames
/// made without, each made when it is first needed.
#[derive(Default)]
pub struct Unpacker {
    with_dict: Option<zstd::bulk::Decompressor<'static>>,
    plain: Option<zstd::bulk::Decompressor<'static>>,
}

impl Unpacker {
    /// The text a frame holds.
    pub fn text(&mut self, z: &[u8]) -> Result<String, PackError> {
        let size = text_len(z).ok_or(PackError::Size)?;
        let dctx = match zstd::zstd_safe::get_dict_id_from_frame(z) {
            None => match &mut self.plain {
                Some(d) => d,
                slot => slot.insert(zstd::bulk::Decompressor::new()?),
            },
            Some(id) if id.get() == VISIT_DICT_ID => match &mut self.with_dict {
                Some(d) => d,
                slot => slot.insert(zstd::bulk::Decompressor::with_prepared_dictionary(ddict())?),
            },
            Some(id) => return Err(PackError::UnknownDictionary(id.get())),
        };
        let bytes = dctx.decompress(z, size)?;
        String::from_utf8(bytes).map_err(|_| PackError::NotText)
    }
}

/// [`unpack`] for bytes from outside (a device's packed payload, stored as it came): also refused
/// unless they are exactly one frame, so what is stored is nothing but the text checked.
pub fn unpack_received(z: &[u8]) -> Result<String, PackError> {
    match zstd::zstd_safe::find_frame_compressed_size(z) {
        Ok(n) if n == z.len() && is_packed(z) => unpack(z),
        _ => Err(PackError::NotOneFrame),
    }
}

/// [`Unpacker::text`] on this thread's unpacker.
pub fn unpack(z: &[u8]) -> Result<String, PackError> {
    thread_local! {
        static U: std::cell::RefCell<Unpacker> = std::cell::RefCell::new(Unpacker::default());
    }
    U.with(|u| u.borrow_mut().text(z))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"visit_id":"0190a1b2-0000-7000-8000-000000000001","outcome":"ditemukan","members":[{"nik":"3308010101900001","name":"Siti"}]}"#;

    #[test]
    fn a_packed_record_reads_back_as_the_same_text_and_is_smaller() {
        let z = pack(RECORD).unwrap();
        assert!(is_packed(&z));
        assert!(z.len() < RECORD.len(), "{} >= {}", z.len(), RECORD.len());
        assert_eq!(
            zstd::zstd_safe::get_dict_id_from_frame(&z).map(|i| i.get()),
            Some(VISIT_DICT_ID)
        );
        assert_eq!(unpack(&z).unwrap(), RECORD);
    }

    #[test]
    fn frames_without_a_dictionary_still_read_and_text_is_never_taken_for_a_frame() {
        let plain = zstd::bulk::compress(RECORD.as_bytes(), 1).unwrap();
        assert_eq!(unpack(&plain).unwrap(), RECORD);
        for text in [RECORD, "[]", "\"x\"", "null", ""] {
            assert!(!is_packed(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn a_frame_of_an_unknown_dictionary_or_a_lying_size_is_refused() {
        let mut other = VISIT_DICT.to_vec();
        // The id sits after the dictionary's own magic number.
        other[4..8].copy_from_slice(&0x5656_0002u32.to_le_bytes());
        let z = zstd::bulk::Compressor::with_dictionary(1, &other)
            .unwrap()
            .compress(RECORD.as_bytes())
            .unwrap();
        assert!(matches!(
            unpack(&z),
            Err(PackError::UnknownDictionary(0x5656_0002))
        ));
        // A streamed frame carries no size: refused rather than guessed.
        let mut streamed = Vec::new();
        let mut enc = zstd::stream::Encoder::new(&mut streamed, 1).unwrap();
        std::io::Write::write_all(&mut enc, RECORD.as_bytes()).unwrap();
        enc.finish().unwrap();
        assert!(matches!(unpack(&streamed), Err(PackError::Size)));
        assert!(unpack(&MAGIC).is_err());
    }

    #[test]
    fn a_received_frame_must_be_one_frame_and_nothing_else() {
        let z = pack(RECORD).unwrap();
        assert_eq!(unpack_received(&z).unwrap(), RECORD);
        assert_eq!(text_len(&z), Some(RECORD.len()));
        let mut trailing = z.clone();
        trailing.push(0);
        let mut two = z.clone();
        two.extend_from_slice(&z);
        // A skippable frame after it would be stored unread.
        let mut skippable = z.clone();
        skippable.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 1, 0, 0, 0, 9]);
        for bad in [
            trailing,
            two,
            skippable,
            z[..z.len() - 1].to_vec(),
            Vec::new(),
        ] {
            assert!(
                matches!(unpack_received(&bad), Err(PackError::NotOneFrame)),
                "{bad:?}"
            );
        }
        // A skippable frame alone is one frame, but no record.
        assert!(unpack_received(&[0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0]).is_err());
    }
}
