//! External catalogues through a column mapping: FITS (SExtractor-like names), CSV, Parquet;
//! 1-based positions; errors that name the file, column and row.

use tomoe_fits::table::{write_table, TableColumn};
use tomoe_lightcurve::input::{columns, read_catalog, ColumnMap, InputError};

fn sextractor_map() -> ColumnMap {
    ColumnMap {
        frame: Some("FRAME".into()),
        x: "X_IMAGE".into(),
        y: "Y_IMAGE".into(),
        flux: "FLUX_APER".into(),
        flux_err: Some("FLUXERR_APER".into()),
        flags: Some("FLAGS".into()),
        ..Default::default()
    }
}

#[test]
fn fits_csv_and_parquet_catalogues_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let fits = dir.path().join("neo.fits");
    let mut f = std::fs::File::create(&fits).unwrap();
    write_table(
        &mut f,
        &[],
        "LDAC_OBJECTS",
        &[
            ("NUMBER", "", TableColumn::I64(vec![1, 2])),
            ("FRAME", "", TableColumn::I64(vec![0, 3])),
            ("X_IMAGE", "pixel", TableColumn::F64(vec![1.0, 100.25])),
            ("Y_IMAGE", "pixel", TableColumn::F64(vec![1.5, 50.0])),
            ("FLUX_APER", "count", TableColumn::F64(vec![1000.0, 20.5])),
            ("FLUXERR_APER", "count", TableColumn::F64(vec![31.6, 4.5])),
            ("FLAGS", "", TableColumn::I64(vec![0, 2])),
        ],
    )
    .unwrap();
    drop(f);
    let cols = columns(&fits).unwrap();
    assert!(cols.contains(&("X_IMAGE".to_string(), "pixel".to_string())));
    let a = read_catalog(&fits, &sextractor_map()).unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(
        (a[0].x, a[0].y, a[0].frame),
        (0.0, 0.5, 0),
        "1-based → 0-based"
    );
    assert_eq!(
        (a[1].frame, a[1].flux, a[1].flux_err, a[1].flags),
        (3, 20.5, 4.5, 2)
    );

    let csv = dir.path().join("neo.csv");
    std::fs::write(
        &csv,
        "number,frame,x_image,y_image,flux_aper,fluxerr_aper,flags\n1,0,1.0,1.5,1000,31.6,0\n2,3,100.25,50,20.5,4.5,2\n",
    )
    .unwrap();
    assert_eq!(read_catalog(&csv, &sextractor_map()).unwrap(), a);

    // Parquet with integer and float columns.
    use std::sync::Arc;
    use tomoe_store::arrow::array::{ArrayRef, Float64Array, Int32Array, RecordBatch};
    let pq = dir.path().join("neo.parquet");
    let batch = RecordBatch::try_from_iter(vec![
        ("FRAME", Arc::new(Int32Array::from(vec![0, 3])) as ArrayRef),
        (
            "X_IMAGE",
            Arc::new(Float64Array::from(vec![1.0, 100.25])) as ArrayRef,
        ),
        (
            "Y_IMAGE",
            Arc::new(Float64Array::from(vec![1.5, 50.0])) as ArrayRef,
        ),
        (
            "FLUX_APER",
            Arc::new(Float64Array::from(vec![1000.0, 20.5])) as ArrayRef,
        ),
        (
            "FLUXERR_APER",
            Arc::new(Float64Array::from(vec![31.6, 4.5])) as ArrayRef,
        ),
        ("FLAGS", Arc::new(Int32Array::from(vec![0, 2])) as ArrayRef),
    ])
    .unwrap();
    let mut w = tomoe_store::parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&pq).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    assert_eq!(read_catalog(&pq, &sextractor_map()).unwrap(), a);

    // Without a frame column: every row is the default frame; without errors/flags: zeros.
    let minimal = ColumnMap {
        frame: None,
        default_frame: 7,
        flux_err: None,
        flags: None,
        one_based: false,
        ..sextractor_map()
    };
    let b = read_catalog(&csv, &minimal).unwrap();
    assert_eq!(
        (b[1].frame, b[1].x, b[1].flux_err, b[1].flags),
        (7, 100.25, 0.0, 0)
    );
}

#[test]
fn bad_catalogues_are_refused_with_what_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "x,y,flux\n1,2,3\n4,five,6\n").unwrap();
    let map = ColumnMap {
        frame: None,
        flux_err: None,
        flags: None,
        ..Default::default()
    };
    match read_catalog(&csv, &map).unwrap_err() {
        e @ InputError::BadValue { row: 2, .. } => {
            let m = e.to_string();
            assert!(
                m.contains("bad.csv") && m.contains("\"y\"") && m.contains("five"),
                "{m}"
            );
        }
        other => panic!("{other}"),
    }
    let missing = ColumnMap {
        flux: "FLUX_AUTO".into(),
        ..map.clone()
    };
    let m = read_catalog(&csv, &missing).unwrap_err().to_string();
    assert!(m.contains("FLUX_AUTO") && m.contains("x, y, flux"), "{m}");
    std::fs::write(dir.path().join("frames.csv"), "frame,x,y,flux\n1.5,1,2,3\n").unwrap();
    let with_frame = ColumnMap {
        frame: Some("frame".into()),
        ..map.clone()
    };
    let m = read_catalog(&dir.path().join("frames.csv"), &with_frame)
        .unwrap_err()
        .to_string();
    assert!(m.contains("frame index"), "{m}");
    let not_fits = dir.path().join("x.fits");
    std::fs::write(&not_fits, "hello").unwrap();
    assert!(matches!(
        read_catalog(&not_fits, &map),
        Err(InputError::Unreadable { .. })
    ));
}
