import gis.crs
def test_x(): assert gis.crs.STORAGE_CRS
