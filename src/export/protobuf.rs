//! The protobuf wire format, as much of it as OTLP needs: a writer of
//! varints, fixed64/fixed32 and length-delimited fields straight into a
//! `Vec<u8>`, and a reader that walks the fields of one message.
//!
//! A submessage is written behind one reserved length byte and moved right
//! when its length turns out to need more (`begin_message` / `end_message`),
//! so lengths are exact and every varint is minimal without sizing the
//! message twice. Most submessages (a key-value, a short value) are under
//! 128 bytes and never move.
//!
//! The reader is for answers from a collector and for tests: any bytes give
//! fields or an error, never a panic; it reads one level, and the caller
//! descends into a length-delimited field it knows to be a message.

/// Wire type of a varint field (int32, int64, uint64, bool, enum).
pub const WIRE_VARINT: u8 = 0;
/// Wire type of a fixed64 or double field.
pub const WIRE_FIXED64: u8 = 1;
/// Wire type of a string, bytes or submessage field.
pub const WIRE_LEN: u8 = 2;
/// Wire type of a fixed32 or float field.
pub const WIRE_FIXED32: u8 = 5;
/// The largest field number protobuf allows (29 bits).
pub const FIELD_NUMBER_MAX: u32 = (1 << 29) - 1;
/// Bytes of the longest varint (a u64, seven bits per byte).
pub const VARINT_BYTES_MAX: usize = 10;

/// Appends `value` as a minimal varint.
pub fn put_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// Bytes `put_varint` writes for `value`.
pub fn varint_size(value: u64) -> usize {
    // ceil(bits / 7) as a multiply and a shift, from the index of the
    // highest bit (exact for every width; the test below checks each): a
    // division here was a fifth of the cost of writing a plain record.
    let highest_bit = 63 - (value | 1).leading_zeros() as usize;
    (highest_bit * 9 + 73) / 64
}

/// Appends the key of field `number` with `wire_type`.
pub fn put_tag(buf: &mut Vec<u8>, number: u32, wire_type: u8) {
    debug_assert!((1..=FIELD_NUMBER_MAX).contains(&number));
    debug_assert!(wire_type <= WIRE_FIXED32);
    put_varint(buf, u64::from(number) << 3 | u64::from(wire_type));
}

/// A uint64/uint32/enum/bool field.
pub fn put_varint_field(buf: &mut Vec<u8>, number: u32, value: u64) {
    put_tag(buf, number, WIRE_VARINT);
    put_varint(buf, value);
}

/// An int64 field: a negative value is its two's complement (ten bytes).
pub fn put_int64_field(buf: &mut Vec<u8>, number: u32, value: i64) {
    put_varint_field(buf, number, value as u64);
}

/// A fixed64 field, little-endian.
pub fn put_fixed64_field(buf: &mut Vec<u8>, number: u32, value: u64) {
    put_tag(buf, number, WIRE_FIXED64);
    buf.extend_from_slice(&value.to_le_bytes());
}

/// A double field: its IEEE 754 bits as fixed64.
pub fn put_double_field(buf: &mut Vec<u8>, number: u32, value: f64) {
    put_fixed64_field(buf, number, value.to_bits());
}

/// A fixed32 field, little-endian.
pub fn put_fixed32_field(buf: &mut Vec<u8>, number: u32, value: u32) {
    put_tag(buf, number, WIRE_FIXED32);
    buf.extend_from_slice(&value.to_le_bytes());
}

/// A string or bytes field.
pub fn put_bytes_field(buf: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_tag(buf, number, WIRE_LEN);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// An open submessage: where its length bytes were reserved, and how many.
#[must_use = "a submessage must be closed with end_message"]
#[derive(Debug)]
pub struct Mark {
    at: usize,
    reserved: usize,
}

/// Starts submessage field `number`; write its fields, then `end_message`.
/// One length byte is reserved: right for messages under 128 bytes.
pub fn begin_message(buf: &mut Vec<u8>, number: u32) -> Mark {
    begin_message_reserving(buf, number, 1)
}

/// Like `begin_message` with `reserved` length bytes (1 to
/// `VARINT_BYTES_MAX`), for a message that is usually as big as that
/// takes (a log record: 2, up to 16 KiB), so closing it moves nothing.
pub fn begin_message_reserving(buf: &mut Vec<u8>, number: u32, reserved: usize) -> Mark {
    assert!(
        (1..=VARINT_BYTES_MAX).contains(&reserved),
        "reserved length bytes"
    );
    put_tag(buf, number, WIRE_LEN);
    let at = buf.len();
    buf.resize(at + reserved, 0);
    Mark { at, reserved }
}

/// Closes the submessage opened at `mark`: writes its length, moving its
/// bytes when the length takes more or fewer bytes than were reserved, so
/// every length is a minimal varint. Submessages nest: close the inner one
/// first.
pub fn end_message(buf: &mut Vec<u8>, mark: Mark) {
    let start = mark.at + mark.reserved;
    assert!(start <= buf.len(), "submessage mark past the buffer");
    let size = buf.len() - start;
    // The common cases, written straight (most of an encoder's closes).
    match (mark.reserved, size) {
        (1, 0..=0x7f) => {
            buf[mark.at] = size as u8;
            return;
        }
        (2, 0x80..=0x3fff) => {
            buf[mark.at] = (size as u8 & 0x7f) | 0x80;
            buf[mark.at + 1] = (size >> 7) as u8;
            return;
        }
        _ => {}
    }
    let length_size = varint_size(size as u64);
    if length_size != mark.reserved {
        let end = buf.len();
        let content_at = mark.at + length_size;
        if length_size > mark.reserved {
            buf.resize(end + length_size - mark.reserved, 0);
        }
        buf.copy_within(start..end, content_at);
        buf.truncate(content_at + size);
    }
    let mut length = [0u8; VARINT_BYTES_MAX];
    let mut value = size as u64;
    for byte in length.iter_mut().take(length_size) {
        *byte = (value as u8 & 0x7f) | 0x80;
        value >>= 7;
    }
    length[length_size - 1] &= 0x7f;
    buf[mark.at..mark.at + length_size].copy_from_slice(&length[..length_size]);
}

/// Why bytes are not a well-formed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The bytes end inside a key, a value or a length-delimited field.
    Truncated,
    /// A varint runs past ten bytes or past 64 bits.
    VarintOverflow,
    /// Field number 0 or above 2^29 - 1.
    BadFieldNumber,
    /// Wire type 3 or 4 (groups, unused since proto2) or 6 or 7 (none).
    BadWireType,
}

impl ReadError {
    pub fn message(self) -> &'static str {
        match self {
            ReadError::Truncated => "message ends inside a field",
            ReadError::VarintOverflow => "varint longer than 64 bits",
            ReadError::BadFieldNumber => "field number out of range",
            ReadError::BadWireType => "unknown or group wire type",
        }
    }
}

/// The value of one field, as the wire type gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireValue<'a> {
    Varint(u64),
    Fixed64(u64),
    /// A string, bytes, packed repeated field or submessage.
    Len(&'a [u8]),
    Fixed32(u32),
}

/// One field of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    pub number: u32,
    pub value: WireValue<'a>,
}

/// The fields of one message, in order. After an error it yields nothing
/// more (the rest of the bytes has no known framing).
pub struct Fields<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Walks the fields of the message `bytes`.
pub fn fields(bytes: &[u8]) -> Fields<'_> {
    Fields {
        rest: bytes,
        failed: false,
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let field = self.read_field();
        self.failed = field.is_err();
        Some(field)
    }
}

impl<'a> Fields<'a> {
    fn read_field(&mut self) -> Result<Field<'a>, ReadError> {
        let key = self.read_varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| ReadError::BadFieldNumber)?;
        if number == 0 || number > FIELD_NUMBER_MAX {
            return Err(ReadError::BadFieldNumber);
        }
        let value = match (key & 7) as u8 {
            WIRE_VARINT => WireValue::Varint(self.read_varint()?),
            WIRE_FIXED64 => WireValue::Fixed64(u64::from_le_bytes(self.take_array()?)),
            WIRE_LEN => {
                let size = self.read_varint()?;
                let size = usize::try_from(size).map_err(|_| ReadError::Truncated)?;
                WireValue::Len(self.take(size)?)
            }
            WIRE_FIXED32 => WireValue::Fixed32(u32::from_le_bytes(self.take_array()?)),
            _ => return Err(ReadError::BadWireType),
        };
        Ok(Field { number, value })
    }

    fn read_varint(&mut self) -> Result<u64, ReadError> {
        let mut value = 0u64;
        for (index, &byte) in self.rest.iter().enumerate().take(VARINT_BYTES_MAX) {
            // The tenth byte holds bit 63 only.
            if index == VARINT_BYTES_MAX - 1 && byte > 1 {
                return Err(ReadError::VarintOverflow);
            }
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte < 0x80 {
                self.rest = &self.rest[index + 1..];
                return Ok(value);
            }
        }
        if self.rest.len() >= VARINT_BYTES_MAX {
            Err(ReadError::VarintOverflow)
        } else {
            Err(ReadError::Truncated)
        }
    }

    fn take(&mut self, size: usize) -> Result<&'a [u8], ReadError> {
        if size > self.rest.len() {
            return Err(ReadError::Truncated);
        }
        let (taken, rest) = self.rest.split_at(size);
        self.rest = rest;
        Ok(taken)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let bytes = self.take(N)?;
        let mut array = [0u8; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A submessage of `size` bytes, its length reserved as `reserved`
    /// bytes: the same bytes whatever was reserved.
    #[test]
    fn reserved_length_bytes_never_change_the_encoding() {
        for size in [0, 1, 127, 128, 300, 16_383, 16_384, 70_000] {
            let encode = |reserved: usize| {
                let mut buf = vec![0xaa];
                let mark = begin_message_reserving(&mut buf, 3, reserved);
                buf.extend((0..size).map(|index| index as u8));
                end_message(&mut buf, mark);
                buf
            };
            let one = encode(1);
            assert_eq!(
                one.len(),
                2 + varint_size(size as u64) + size,
                "size {size}"
            );
            for reserved in [2, 3, VARINT_BYTES_MAX] {
                assert_eq!(encode(reserved), one, "size {size}, {reserved} reserved");
            }
        }
    }

    fn check(write: impl FnOnce(&mut Vec<u8>), expected: &[u8]) {
        let mut buf = Vec::new();
        write(&mut buf);
        assert_eq!(buf, expected);
    }

    fn read(bytes: &[u8]) -> Vec<Result<Field<'_>, ReadError>> {
        fields(bytes).collect()
    }

    #[test]
    fn varints_are_minimal() {
        check(|buf| put_varint(buf, 0), &[0x00]);
        check(|buf| put_varint(buf, 1), &[0x01]);
        check(|buf| put_varint(buf, 127), &[0x7f]);
        check(|buf| put_varint(buf, 128), &[0x80, 0x01]);
        check(|buf| put_varint(buf, 300), &[0xac, 0x02]);
        check(|buf| put_varint(buf, 16_383), &[0xff, 0x7f]);
        check(|buf| put_varint(buf, 16_384), &[0x80, 0x80, 0x01]);
        let mut max = vec![0xff; 9];
        max.push(0x01);
        check(|buf| put_varint(buf, u64::MAX), &max);
        // Every width, at both ends.
        let widths = (0..64).flat_map(|bit| [1u64 << bit, (1u64 << bit) | ((1u64 << bit) - 1)]);
        for value in [0, 300, 1 << 35].into_iter().chain(widths) {
            let mut buf = Vec::new();
            put_varint(&mut buf, value);
            assert_eq!(varint_size(value), buf.len(), "{value}");
        }
    }

    #[test]
    fn fields_by_hand() {
        // The protobuf docs' examples: field 1 = 150, field 2 = "testing".
        check(|buf| put_varint_field(buf, 1, 150), &[0x08, 0x96, 0x01]);
        check(
            |buf| put_bytes_field(buf, 2, b"testing"),
            &[0x12, 0x07, b't', b'e', b's', b't', b'i', b'n', b'g'],
        );
        check(
            |buf| put_fixed64_field(buf, 1, 0x0102_0304_0506_0708),
            &[0x09, 8, 7, 6, 5, 4, 3, 2, 1],
        );
        check(
            |buf| put_fixed32_field(buf, 8, 0x0102_0304),
            &[0x45, 4, 3, 2, 1],
        );
        check(
            |buf| put_double_field(buf, 4, 1.0),
            &[0x21, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f],
        );
        let mut minus_one = vec![0x18];
        minus_one.extend_from_slice(&[0xff; 9]);
        minus_one.push(0x01);
        check(|buf| put_int64_field(buf, 3, -1), &minus_one);
        // Field 16 needs a two-byte key.
        check(|buf| put_varint_field(buf, 16, 1), &[0x80, 0x01, 0x01]);
    }

    #[test]
    fn submessage_lengths_are_exact() {
        check(
            |buf| {
                let mark = begin_message(buf, 3);
                put_varint_field(buf, 1, 150);
                end_message(buf, mark);
            },
            &[0x1a, 0x03, 0x08, 0x96, 0x01],
        );
        check(
            |buf| {
                let mark = begin_message(buf, 1);
                end_message(buf, mark);
            },
            &[0x0a, 0x00],
        );
        // 200 bytes of content: a two-byte length, the content moved once.
        let mut expected = vec![0x0a, 0xc8, 0x01, 0x12, 0xc5, 0x01];
        expected.extend_from_slice(&[b'x'; 197]);
        check(
            |buf| {
                let mark = begin_message(buf, 1);
                put_bytes_field(buf, 2, &[b'x'; 197]);
                end_message(buf, mark);
            },
            &expected,
        );
        // Nested, the inner one long: both lengths right.
        let mut buf = vec![0xee];
        let outer = begin_message(&mut buf, 1);
        let inner = begin_message(&mut buf, 2);
        put_bytes_field(&mut buf, 1, &[7; 20_000]);
        end_message(&mut buf, inner);
        put_varint_field(&mut buf, 3, 1);
        end_message(&mut buf, outer);
        assert_eq!(buf[0], 0xee);
        let [Ok(Field {
            number: 1,
            value: WireValue::Len(outer),
        })] = read(&buf[1..])[..]
        else {
            panic!("one outer field expected");
        };
        let inner_fields = read(outer);
        assert_eq!(inner_fields.len(), 2);
        let Ok(Field {
            number: 2,
            value: WireValue::Len(inner),
        }) = inner_fields[0]
        else {
            panic!("inner field expected");
        };
        assert_eq!(
            read(inner),
            [Ok(Field {
                number: 1,
                value: WireValue::Len(&[7; 20_000])
            })]
        );
    }

    #[test]
    fn reader_reads_what_the_writer_wrote() {
        let mut buf = Vec::new();
        put_varint_field(&mut buf, 1, u64::MAX);
        put_fixed64_field(&mut buf, 11, 42);
        put_bytes_field(&mut buf, 5, b"");
        put_fixed32_field(&mut buf, FIELD_NUMBER_MAX, 9);
        let field = |number, value| Ok(Field { number, value });
        assert_eq!(
            read(&buf),
            [
                field(1, WireValue::Varint(u64::MAX)),
                field(11, WireValue::Fixed64(42)),
                field(5, WireValue::Len(b"")),
                field(FIELD_NUMBER_MAX, WireValue::Fixed32(9)),
            ]
        );
    }

    #[test]
    fn reader_refuses_bad_bytes() {
        let cases: &[(&[u8], ReadError)] = &[
            (&[0x08], ReadError::Truncated),
            (&[0x08, 0x80], ReadError::Truncated),
            (&[0x12, 0x05, 1, 2], ReadError::Truncated),
            (&[0x09, 1, 2, 3], ReadError::Truncated),
            (&[0x0d, 1, 2, 3], ReadError::Truncated),
            (&[0x12, 0xff, 0xff, 0xff, 0xff, 0x0f], ReadError::Truncated),
            (
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
                ],
                ReadError::VarintOverflow,
            ),
            (
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ],
                ReadError::VarintOverflow,
            ),
            (&[0x00, 0x01], ReadError::BadFieldNumber),
            // Field number 2^29 (key 2^32, five bytes).
            (
                &[0x80, 0x80, 0x80, 0x80, 0x10, 0x01],
                ReadError::BadFieldNumber,
            ),
            (&[0x0b], ReadError::BadWireType),
            (&[0x0c], ReadError::BadWireType),
            (&[0x0e], ReadError::BadWireType),
            (&[0x0f], ReadError::BadWireType),
        ];
        for &(bytes, error) in cases {
            assert_eq!(read(bytes).last(), Some(&Err(error)), "{bytes:x?}");
        }
        // After an error, nothing more.
        assert_eq!(read(&[0x0f, 0x08, 0x01]), [Err(ReadError::BadWireType)]);
        assert_eq!(read(&[]), []);
        // A ten-byte varint of exactly u64::MAX is fine.
        let mut max = vec![0x08];
        max.extend_from_slice(&[0xff; 9]);
        max.push(0x01);
        assert_eq!(
            read(&max),
            [Ok(Field {
                number: 1,
                value: WireValue::Varint(u64::MAX)
            })]
        );
    }
}
