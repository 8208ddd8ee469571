from dskd.data.cases import Case, CaseArrays, load_case
from dskd.data.readers import READERS, read_cases

__all__ = ["Case", "CaseArrays", "load_case", "READERS", "read_cases"]
