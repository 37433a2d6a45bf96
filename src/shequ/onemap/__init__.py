"""The one map (一张图): the map page, its layers, the offline basemap and the big screen."""
