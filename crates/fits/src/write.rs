//! Writing float32 primary images with `DATASUM` and `CHECKSUM` (FITS 4.0 Appendix J).

use crate::header::{Card, Header};
use crate::structure::OnesComplementSum;
use crate::BLOCK;
use std::io::{self, Write};

/// Builds the mandatory primary-header cards for a float32 image of the given axes
/// (`axes[0]` = NAXIS1, the fastest-varying).
pub fn image_f32_header(axes: &[usize]) -> Header {
    let mut h = Header::default();
    h.push(Card::logical("SIMPLE", true, "conforms to FITS standard"));
    h.push(Card::int("BITPIX", -32, "array data type"));
    h.push(Card::int(
        "NAXIS",
        axes.len() as i64,
        "number of array dimensions",
    ));
    for (i, n) in axes.iter().enumerate() {
        h.push(Card::parse(&format!(
            "{:<8}= {:>20}",
            format!("NAXIS{}", i + 1),
            n
        )));
    }
    h
}

/// Encodes a 32-bit checksum as the 16-character ASCII string of FITS 4.0 Appendix J.
pub fn encode_checksum(sum: u32) -> String {
    const EXCLUDE: [u8; 13] = [
        0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60,
    ];
    let value = !sum;
    let mut asc = [0u8; 16];
    for i in 0..4 {
        let byte = ((value >> (24 - 8 * i)) & 0xff) as u8;
        let quotient = byte / 4 + 0x30;
        let remainder = byte % 4;
        let mut ch = [quotient; 4];
        ch[0] += remainder;
        loop {
            let mut changed = false;
            for j in (0..4).step_by(2) {
                if EXCLUDE.contains(&ch[j]) || EXCLUDE.contains(&ch[j + 1]) {
                    ch[j] += 1;
                    ch[j + 1] -= 1;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        for j in 0..4 {
            asc[4 * j + i] = ch[j];
        }
    }
    // Rotate right by one byte.
    let out: Vec<u8> = (0..16).map(|i| asc[(i + 15) % 16]).collect();
    String::from_utf8(out).unwrap_or_default()
}

/// Writes one float32 image HDU: `header` must start with the cards of [`image_f32_header`].
/// `DATASUM` and `CHECKSUM` cards are appended (any present are replaced). Pixels are in
/// FITS order (NAXIS1 fastest). Returns the number of bytes written.
pub fn write_image_f32(out: &mut impl Write, header: &Header, pixels: &[f32]) -> io::Result<u64> {
    let mut data = Vec::with_capacity((pixels.len() * 4).div_ceil(BLOCK) * BLOCK);
    for p in pixels {
        data.extend_from_slice(&p.to_be_bytes());
    }
    data.resize(data.len().div_ceil(BLOCK) * BLOCK, 0);
    let mut dsum = OnesComplementSum::default();
    dsum.update(&data);
    let data_sum = dsum.value();
    let mut h = header.clone();
    h.cards
        .retain(|c| c.keyword != "DATASUM" && c.keyword != "CHECKSUM");
    h.push(Card::string("CHECKSUM", "0000000000000000", "HDU checksum"));
    h.push(Card::string(
        "DATASUM",
        &data_sum.to_string(),
        "data unit checksum",
    ));
    let mut hsum = OnesComplementSum::default();
    hsum.update(&h.to_bytes());
    let total = OnesComplementSum::add(hsum.value(), data_sum);
    let n = h.cards.len();
    h.cards[n - 2] = Card::string("CHECKSUM", &encode_checksum(total), "HDU checksum");
    let hb = h.to_bytes();
    out.write_all(&hb)?;
    out.write_all(&data)?;
    Ok((hb.len() + data.len()) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structure::verify_file;

    #[test]
    fn written_file_verifies_and_corruption_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img.fits");
        let mut h = image_f32_header(&[30, 20]);
        h.push(Card::string("OBJECT", "test", ""));
        let pix: Vec<f32> = (0..600).map(|i| i as f32 * 0.5 - 7.0).collect();
        let mut f = std::fs::File::create(&path).unwrap();
        let n = write_image_f32(&mut f, &h, &pix).unwrap();
        drop(f);
        assert_eq!(n, 2 * BLOCK as u64);
        let layout = verify_file(&path).unwrap();
        assert_eq!(layout.hdus[0].naxes, vec![30, 20]);
        assert_eq!(layout.hdus[0].datasum_verified, Some(true));
        assert_eq!(layout.hdus[0].checksum_verified, Some(true));
        // Flip one data byte: DATASUM must catch it.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[BLOCK + 17] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let err = verify_file(&path).unwrap_err().to_string();
        assert!(err.contains("DATASUM mismatch"), "{err}");
        // Truncate: reported as truncation.
        std::fs::write(&path, &bytes[..BLOCK + 100]).unwrap();
        let err = verify_file(&path).unwrap_err();
        assert!(err.is_truncation(), "{err}");
    }

    #[test]
    fn checksum_encoding_of_negative_zero() {
        // An HDU summing to -0 (0xffffffff) encodes as all '0' (FITS 4.0 Appendix J); the
        // general case is checked against astropy in tests/reference.rs.
        let s = encode_checksum(0xffff_ffff);
        assert_eq!(s, "0000000000000000");
    }
}
