//! TFRecord framing, as TensorFlow's `RecordWriter` writes event files: each record is its length
//! (u64, little-endian), the length's masked CRC-32C, the data, and the data's masked CRC-32C
//! (u32s, little-endian).

/// The masked CRC-32C of `data`: the checksum rotated right by 15 bits plus `0xa282ead8`, so that
/// a CRC of data that embeds CRCs stays well distributed.
pub fn masked_crc(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
        .rotate_right(15)
        .wrapping_add(0xa282_ead8)
}

/// Append `data` to `out` as one record.
pub fn append_record(out: &mut Vec<u8>, data: &[u8]) {
    let length = u64::try_from(data.len())
        .expect("a record fits u64")
        .to_le_bytes();
    out.extend_from_slice(&length);
    out.extend_from_slice(&masked_crc(&length).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::append_record;

    /// The framing tensorboard 2.21's `RecordWriter` gives the file-version event.
    #[test]
    fn records_are_framed_as_tensorboards_record_writer_does() {
        let event = [
            0x09, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x1a, 0x0d, b'b', b'r', b'a', b'i', b'n', b'.', b'E',
            b'v', b'e', b'n', b't', b':', b'2',
        ];
        let mut out = Vec::new();
        append_record(&mut out, &event);
        let mut want = vec![0x18, 0, 0, 0, 0, 0, 0, 0, 0xa3, 0x7f, 0x4b, 0x22];
        want.extend_from_slice(&event);
        want.extend_from_slice(&[0xff, 0x2e, 0xe0, 0xe7]);
        assert_eq!(out, want);
    }
}
