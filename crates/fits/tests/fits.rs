//! Integration tests of `tomoe-fits` on the real (truncated) Tomo-e sample headers.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use tomoe_fits::tomoe::{FrameIdSource, TomoeHeader};
use tomoe_fits::{FrameId, Header};

fn sample(name: &str) -> Header {
    // Copies of ../shared/reference/tomoe/headers (real, truncated, no END: FORMAT.md §0).
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/headers")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let h = Header::from_text(&text);
    let mut bytes: Vec<u8> = text
        .lines()
        .flat_map(|l| format!("{l:<80}").into_bytes())
        .collect();
    bytes.extend(format!("{:<80}", "END").bytes());
    bytes.resize(bytes.len().div_ceil(2880) * 2880, b' ');
    let (h2, _) = Header::parse(&bytes).unwrap();
    assert_eq!(h, h2, "text and byte parsing agree for {name}");
    h
}

#[test]
fn frame_id_parts() {
    let id = FrameId::parse("TMQ1202301020086026211").unwrap();
    assert_eq!(
        (id.quadrant, id.date.to_string(), id.exp_id, id.chip),
        (1, "2023-01-02".into(), 860_262, 11)
    );
    assert_eq!(id.det_id(), 111);
    assert_eq!(id.to_string(), "TMQ1202301020086026211");
    assert_eq!(
        FrameId::find_in("sTMQ1202303140093482012.fits")
            .unwrap()
            .exp_id,
        934_820
    );
    for bad in [
        "TMQ5202301020086026211",
        "TMQ120230102008602621",
        "TMQ1202313020086026211",
        "XYZ1202301020086026211",
    ] {
        assert!(FrameId::parse(bad).is_none(), "{bad}");
    }
}

#[test]
fn stack_sample() {
    let h = sample("stack.hdr");
    let t = TomoeHeader::from_header(&h, Some("sTMQ1202301020086026211.fits"));
    assert_eq!(t.frame_id.unwrap().to_string(), "TMQ1202301020086026211");
    assert_eq!(t.frame_id_source, Some(FrameIdSource::FileName));
    assert_eq!(t.exp_id, Some(860_262));
    assert_eq!(t.det_id, Some(111));
    assert_eq!(t.object.as_deref(), Some("J0322+5925_dith1"));
    assert_eq!(t.project.as_deref(), Some("All-Sky Survey"));
    assert_eq!(t.observer.as_deref(), Some("T. Morokuma"));
    assert_eq!(t.pipeline.as_deref(), Some("wcs,stack,neo"));
    assert_eq!(t.data_typ.as_deref(), Some("OBJECT"));
    assert_eq!(t.utc_start.unwrap().to_iso(), "2023-01-02T09:48:14.665023");
    assert_eq!(t.exptime, Some(8.498368000000001));
    assert_eq!(t.telapse, Some(9.50002));
    assert_eq!(t.exptime1, Some(0.499904));
    assert_eq!(t.tframe, Some(0.5));
    assert_eq!(t.trlstep1, Some(0.00041475));
    assert_eq!(t.data_fps, Some(2.0));
    assert_eq!(t.naxes, vec![2000, 1128]);
    assert_eq!(t.n_frames, Some(18)); // TELAPSE = 18 × 0.5 + 0.50002
    assert!(!t.pointing_valid); // the sample stops before RA/DEC
    assert_eq!(t.observing_night().unwrap().to_string(), "2023-01-02");
    // Every card kept verbatim.
    assert_eq!(h.cards.len(), 28);
    assert!(h
        .to_text()
        .contains("EXPTIME =    8.498368000000001 / [s] net integration time"));
}

#[test]
fn cube_sample_has_frames_and_pointing() {
    let t = TomoeHeader::from_header(&sample("cube.hdr"), Some("rTMQ1202201040065228212.fits"));
    assert_eq!(t.naxes, vec![2000, 1128, 12]);
    assert_eq!(t.n_frames, Some(12));
    assert_eq!(t.exp_id, Some(652_282));
    assert_eq!(t.frame_id.unwrap().chip, 12);
    assert!(t.pointing_valid);
    assert!((t.ra_tel.unwrap() - 46.317_083_333_333).abs() < 1e-9);
    assert!((t.dec_tel.unwrap() - 22.213_888_888_889).abs() < 1e-9);
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
}

#[test]
fn calibration_frames_flag_impossible_dec() {
    for name in ["dark.hdr", "flat.hdr"] {
        let t = TomoeHeader::from_header(&sample(name), None);
        assert!(!t.pointing_valid, "{name}");
        assert!(t.ra_tel.is_some());
        assert_eq!(t.dec_tel, None);
        assert!(
            t.warnings.iter().any(|w| w.contains("beyond ±90")),
            "{name}: {:?}",
            t.warnings
        );
    }
    // The flat carries EXP_ID/QUAD_ID/DET_ID but no FRAME_ID card: the ID is derived.
    let t = TomoeHeader::from_header(&sample("flat.hdr"), None);
    assert_eq!(t.frame_id.unwrap().to_string(), "TMQ1202310020102010711");
    assert_eq!(t.frame_id_source, Some(FrameIdSource::Derived));
    assert_eq!(t.n_frames, Some(180));
    assert_eq!(t.data_fps, Some(1.0));
}

#[test]
fn neo_primary_and_2019_excerpt() {
    let t = TomoeHeader::from_header(
        &sample("neo-primary.hdr"),
        Some("TMQ4202301020086026243.fits"),
    );
    assert!(t.naxes.is_empty());
    assert_eq!(t.bitpix, Some(8));
    assert_eq!(t.exp_id, Some(860_262));
    assert_eq!(t.det_id, Some(443));
    assert_eq!(t.n_frames, Some(18));
    let t = TomoeHeader::from_header(&sample("cube-2019-excerpt.hdr"), None);
    assert_eq!(t.exptime, Some(59.98848));
    assert_eq!(t.trlstep1, None); // absent in 2019 headers
    assert_eq!(t.n_frames, Some(120));
    assert_eq!(t.project.as_deref(), Some("Earth Shadow 2Hz Survey"));
    assert!(t.utc_start.is_none() && t.frame_id.is_none());
}

#[test]
fn garbage_values_are_warnings_not_errors() {
    let h = Header::from_text(
        "SIMPLE  =                    T\nEXPTIME = 'abc'\nUTC     = '2023-13-45T99:00:00'\nRA      = 'xx:yy'\nFRAME_ID= 'TMQ9'\n",
    );
    let t = TomoeHeader::from_header(&h, None);
    assert_eq!(t.exptime, None);
    assert_eq!(t.utc_start, None);
    assert!(t.warnings.len() >= 4, "{:?}", t.warnings);
}

/// Binary tables written by astropy (scripts/reference/fits_table_reference.py) read back as
/// astropy reads them: every scalar type, unsigned and scaled integers, TNULL, text, logicals,
/// units, selection by EXTNAME; and our own writer's tables round-trip.
#[test]
fn binary_tables_read_as_astropy_reads_them() {
    use tomoe_fits::table::{read_table, write_table, ReadValues, TableColumn};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("astropy_table.json")).unwrap()).unwrap();
    let cols = read_table(&dir.join("astropy_table.fits"), Some("sources")).unwrap();
    let want = r["columns"].as_object().unwrap();
    assert_eq!(cols.len(), want.len());
    for c in &cols {
        let w = &want[&c.name];
        assert_eq!(c.unit, w["unit"].as_str().unwrap(), "{}", c.name);
        let wv = w["values"].as_array().unwrap();
        match &c.values {
            ReadValues::F64(v) => {
                for (a, b) in v.iter().zip(wv) {
                    match b.as_f64() {
                        Some(b) => assert_eq!(*a, b, "{}", c.name),
                        None => assert!(a.is_nan(), "{}: {a} should be null", c.name),
                    }
                }
            }
            ReadValues::I64(v) => {
                let b: Vec<i64> = wv.iter().map(|x| x.as_i64().unwrap()).collect();
                assert_eq!(v, &b, "{}", c.name);
            }
            ReadValues::Str(v) => {
                let b: Vec<&str> = wv.iter().map(|x| x.as_str().unwrap()).collect();
                assert_eq!(v, &b, "{}", c.name);
            }
            ReadValues::Bool(v) => {
                let b: Vec<Option<bool>> = wv.iter().map(|x| x.as_bool()).collect();
                assert_eq!(v, &b, "{}", c.name);
            }
        }
    }
    // Without a name: the first table (OTHER).
    let first = read_table(&dir.join("astropy_table.fits"), None).unwrap();
    assert_eq!(first[0].name, "x");
    assert_eq!(first[0].values, ReadValues::F64(vec![1.5, 2.5]));
    let err = read_table(&dir.join("astropy_table.fits"), Some("NOPE")).unwrap_err();
    assert!(err.to_string().contains("NOPE"), "{err}");
    assert!(read_table(&dir.join("sim_stack.fits"), None)
        .unwrap_err()
        .to_string()
        .contains("no binary table"));
    // Our writer round-trips.
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("t.fits");
    let mut f = std::fs::File::create(&p).unwrap();
    write_table(
        &mut f,
        &[],
        "CAT",
        &[
            ("flux", "adu", TableColumn::F64(vec![1.0, f64::NAN])),
            ("id", "", TableColumn::I64(vec![-3, 4])),
            ("name", "", TableColumn::Str(vec!["ab".into(), "c".into()])),
        ],
    )
    .unwrap();
    drop(f);
    let back = read_table(&p, Some("CAT")).unwrap();
    assert_eq!(back[0].unit, "adu");
    match &back[0].values {
        ReadValues::F64(v) => assert!(v[0] == 1.0 && v[1].is_nan()),
        other => panic!("{other:?}"),
    }
    assert_eq!(back[1].values, ReadValues::I64(vec![-3, 4]));
    assert_eq!(
        back[2].values,
        ReadValues::Str(vec!["ab".into(), "c".into()])
    );
}
