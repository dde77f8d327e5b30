import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from cli.clf import main
from cli.label import main as label_main

REPORTS = {
    "R1": "两侧胸廓对称。两肺纹理稍增多，未见明显异常实变影。心影外形及大小如常。"
    "两膈面光整，两肋膈角锐利。",
    "R2": "两侧胸廓对称。左下肺野见少许斑片模糊影。主动脉结突出并见钙化灶。心影饱满。右膈面隆起。",
    "R3": "两侧胸廓不对称。两肺纹理增多。心影饱满。右肋膈角变钝。",
    "R4": "心影增大？请结合超声。两肺纹理稍增多。",
}


def write_dicom(path, accession: str, patient: str, seed: int) -> None:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.AccessionNumber = "Li^Si", patient, accession
    ds.Rows, ds.Columns = 24, 20
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1"
    rng = np.random.default_rng(seed)
    ds.PixelData = rng.integers(0, 4096, (24, 20), dtype=np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


@pytest.fixture
def folder(tmp_path):
    """Reports labelled by `cxrlabel extract`, and two films per report from four patients."""
    pd.DataFrame({"report_id": list(REPORTS), "text": list(REPORTS.values())}).to_csv(
        tmp_path / "reports.csv", index=False
    )
    result = CliRunner().invoke(
        label_main, ["extract", str(tmp_path / "reports.csv"), "-o", str(tmp_path / "labels.csv")]
    )
    assert result.exit_code == 0, result.output
    for i, report in enumerate(REPORTS):
        for view in range(2):
            write_dicom(tmp_path / "dicom" / f"{report}_{view}.dcm", report, f"P{i}", 2 * i + view)
    return tmp_path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_build_from_cxrlabel_labels(folder):
    out = folder / "data"
    result = run(
        "dataset", "build", "--images", folder / "dicom", "--labels", folder / "labels.csv",
        "-o", out, "--size", 16, "--split", "0.5,0.25,0.25", "--workers", 2, "--seed", 1,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "8 films linked to reports: 8 converted, 0 already done" in result.output
    manifest = pd.read_csv(out / "manifest.csv", dtype=str, keep_default_na=False)
    assert set(manifest["report_id"]) == set(REPORTS)
    assert manifest.groupby("patient_id")["split"].nunique().max() == 1
    assert "Li^Si" not in (out / "manifest.csv").read_text(encoding="utf-8")
    assert (out / "stats.md").is_file()
    assert pd.read_csv(out / "errors.csv").empty

    again = run(
        "dataset", "build", "--images", folder / "dicom", "--labels", folder / "labels.csv",
        "-o", out, "--size", 16, "--split", "0.5,0.25,0.25", "--workers", 1, "--seed", 1,
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "0 converted, 8 already done" in again.output
    assert pd.read_csv(out / "manifest.csv", dtype=str, keep_default_na=False).equals(manifest)


def test_low_failed_files_are_listed_and_strict_exits_1(folder):
    (folder / "dicom" / "broken.dcm").write_bytes(b"\x00" * 200)
    args = ["dataset", "build", "--images", folder / "dicom", "--labels", folder / "labels.csv",
            "-o", folder / "data", "--size", 16, "--workers", 1]  # fmt: skip
    args += ["--split", "0.5,0.25,0.25"]
    result = run(*args)
    assert result.exit_code == 0
    assert "1 files failed" in result.stderr
    assert run(*args, "--strict").exit_code == 1
    errors = pd.read_csv(folder / "data" / "errors.csv")
    assert errors.to_dict("records") == [{"file": "broken.dcm", "reason": "not a DICOM file"}]
    assert len(pd.read_csv(folder / "data" / "manifest.csv")) >= 8


def test_uncertain_labels_are_a_usage_error(folder):
    result = CliRunner().invoke(
        label_main,
        ["extract", str(folder / "reports.csv"), "-o", str(folder / "keep.csv")]
        + ["--uncertain", "keep"],
    )
    assert result.exit_code == 0, result.output
    built = run("dataset", "build", "--images", folder / "dicom", "--labels", folder / "keep.csv",
                "-o", folder / "data")  # fmt: skip
    assert built.exit_code == 2
    assert "uncertain labels (-1) in reports R4" in built.output


@pytest.mark.parametrize(
    "extra",
    [["--split", "0.8,0.3,0.1"], ["--bit-depth", "12"], ["--key", "name"], ["--workers", "0"]],
)
def test_bad_options_exit_2(folder, extra):
    result = run("dataset", "build", "--images", folder / "dicom", "--labels",
                 folder / "labels.csv", "-o", folder / "data", *extra)  # fmt: skip
    assert result.exit_code == 2


def test_group_help_lists_build():
    result = run("dataset", "--help")
    assert result.exit_code == 0 and "build" in result.output


def test_small_dataset_empty_split_is_one_line_exit_2(folder):
    result = run("dataset", "build", "--images", folder / "dicom", "--labels",
                 folder / "labels.csv", "-o", folder / "data", "--size", 16)  # fmt: skip
    assert result.exit_code == 2
    assert "Error: too few patients (4) for --split 0.8,0.1,0.1: " in result.output
    assert "Traceback" not in result.output


def test_low_zero_byte_labels_file_exit_2(folder):
    empty = folder / "empty.csv"
    empty.write_bytes(b"")
    result = run("dataset", "build", "--images", folder / "dicom", "--labels", empty,
                 "-o", folder / "data")  # fmt: skip
    assert result.exit_code == 2
    assert f"Error: {empty}: empty file (no header row)" in result.output


def test_low_excel_switch_starts_the_error_lists_with_a_bom(folder):
    (folder / "dicom" / "broken.dcm").write_bytes(b"\x00" * 200)
    args = ["dataset", "build", "--images", folder / "dicom", "--labels", folder / "labels.csv",
            "-o", folder / "data", "--size", 16, "--workers", 1]  # fmt: skip
    args += ["--split", "0.5,0.25,0.25"]
    assert run(*args).exit_code == 0
    plain = (folder / "data" / "errors.csv").read_bytes()
    assert not plain.startswith(b"\xef\xbb\xbf")
    assert run(*args, "--excel").exit_code == 0
    excel = (folder / "data" / "errors.csv").read_bytes()
    assert excel == b"\xef\xbb\xbf" + plain
    assert (folder / "data" / "unlinked.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    # pandas reads both forms the same
    read = pd.read_csv(folder / "data" / "errors.csv", encoding="utf-8-sig")
    assert read.to_dict("records") == [{"file": "broken.dcm", "reason": "not a DICOM file"}]
