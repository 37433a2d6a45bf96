// Entry point of the pages' script. Small maps are drawn where a page has [data-map].
import "./map";
