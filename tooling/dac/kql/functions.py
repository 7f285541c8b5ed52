"""The KQL function catalog for the binder: arity, result type, kind and platform of every built-in function.

Data, not code: `_CATALOG` below has one function a line, parsed once at import into `FUNCTIONS`.

    name  kind  args  returns  [->replacement]  [@dialect,...]

- kind: scalar | aggregate | window | plugin | tabular. `aggregate` functions are valid only where an aggregation
  is expected (summarize, make-series, ...), `window` functions only on serialized rows, `plugin` names only after
  `| evaluate`, and `tabular` functions produce a table (materialize, the platform functions, ASIM parsers).
- args: `N` (exactly N), `N..M`, or `N..*` (at least N, no upper bound: FunctionInfo.max_args is None).
  Microsoft's binder caps some "variadic" functions at 32767 or 65535 arguments; those are written `*`.
  Finite caps it enforces (strcat: 64, coalesce: 64, array_sort_asc: 65, ...) are kept.
  Extra rules the table does not say: case() takes an odd number of arguments (pairs of predicate and value, then
  the else value), bag_pack()/pack() an even number (key, value pairs).
- returns: a KQL scalar type (string long int real bool datetime timespan dynamic guid decimal), or
  `$N`        the type of argument N (1-based): min/max/take_any/arg_max/prev/bin/round/coalesce ($1),
              iff/iif/case/column_ifexists ($2: the type of the first value branch; Kusto uses the common type
              of all branches, so iff(c, 1, 2.5) is real);
  `$numeric`  the widest numeric type of the arguments (int < long < real < decimal): sum/sumif, max_of/min_of.
              sum/sumif of int are long in Kusto. max_of/min_of also accept datetime/timespan/string arguments
              (then the common type of the arguments; a binder may use `unknown`);
  `unknown`   not known from the call alone: toscalar(T), extractjson/extract_json (with a third argument
              typeof(T) the result is T, with two arguments it is string), percentile_tdigest (typeof in argument 3).
              extract() is listed as string, but with a fourth argument typeof(T) the result is T.
  For kind tabular/plugin, `returns` describes the table: `$1` = the schema of (tabular) argument 1
  (materialize), `unknown` = a schema the catalog cannot know.
  avg/avgif are listed as real; Kusto gives datetime/timespan/decimal for such arguments.
- ->replacement: the function is a deprecated alias; the replacement is the current name (replace() -> replace_regex:
  note replace(regex, rewrite, text) and replace_regex(text, regex, rewrite) order their arguments differently).
- @dialect: the function exists on that platform only (defender = Defender XDR advanced hunting, sentinel =
  Microsoft Sentinel / Log Analytics). Without it the function is standard KQL, available on both.

Sources: the KQL reference on learn.microsoft.com, and the function symbols of Microsoft's Kusto.Language
(@kusto/language-service-next 12.4.1, the binder behind kqlcheck) for arity and result kinds. The catalog follows
the docs where the two differ (bag_unpack takes up to 4 arguments; Kusto.Language stops at 2). The platform
functions come from the Defender XDR advanced hunting and Microsoft Sentinel docs. scripts/verify_function_arity.py
checks every arity against Kusto.Language again. Names are case-sensitive, as in KQL.

Not in the catalog because the parser reads them as syntax, not calls: see SYNTAX_FORMS. User-defined functions
(`let f = (...) {...}`) and saved workspace functions (e.g. a tenant's own parsers) are the binder's business.
Sentinel ASIM parsers (`_Im_*`, `_ASim_*`, `_ASIM_*`) are recognized by prefix: see is_asim_parser().
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("scalar", "aggregate", "window", "plugin", "tabular")
DIALECTS = ("defender", "sentinel")
SCALAR_TYPES = ("string", "long", "int", "real", "bool", "datetime", "timespan", "dynamic", "guid", "decimal")

# Call-like words the parser turns into literals or special nodes, never into a Call: the typed literals
# (`datetime(2024-01-01)`, `dynamic([1])`, `int(null)`, ... are one token or a Literal node), `typeof(string)`, and
# the tabular expressions datatable(...)[...] and externaldata(...)[...].
SYNTAX_FORMS = frozenset(
    {
        "datetime", "date", "timespan", "time", "guid", "int", "long", "real", "double", "decimal", "bool", "boolean",
        "dynamic", "typeof", "datatable", "externaldata",
    }
)  # fmt: skip

ASIM_PREFIXES = ("_Im_", "_ASim_", "_ASIM_")


@dataclass(frozen=True)
class FunctionInfo:
    name: str
    kind: str  # "scalar" | "aggregate" | "window" | "plugin" | "tabular"
    min_args: int
    max_args: int | None  # None = variadic
    returns: str  # a scalar type, "$N", "$numeric" or "unknown" (see the module docstring)
    replaced_by: str | None = None  # deprecated alias -> current name
    dialects: tuple[str, ...] = DIALECTS  # platform-specific functions list only their platform

    def accepts(self, count: int) -> bool:
        """Whether a call with `count` arguments has a valid arity."""
        return count >= self.min_args and (self.max_args is None or count <= self.max_args)


# fmt: off
_CATALOG = """
# --- Conditionals, null and empty tests, generic helpers
gettype                              scalar    1      string
iif                                  scalar    3      $2
iff                                  scalar    3      $2
case                                 scalar    3..*   $2
assert                               scalar    2      bool
not                                  scalar    1      bool
notnull                              scalar    1      bool      ->isnotnull
isnotnull                            scalar    1      bool
isnull                               scalar    1      bool
notempty                             scalar    1      bool      ->isnotempty
isnotempty                           scalar    1      bool
isempty                              scalar    1      bool
columnifexists                       scalar    2      $2        ->column_ifexists
column_ifexists                      scalar    2      $2
around                               scalar    3      bool
coalesce                             scalar    2..64  $1
max_of                               scalar    2..64  $numeric
min_of                               scalar    2..64  $numeric
ingestion_time                       scalar    0      datetime
new_guid                             scalar    0      guid

# --- Type conversion
tostring                             scalar    1      string
tohex                                scalar    1..2   string
todynamic                            scalar    1      dynamic
toobject                             scalar    1      dynamic   ->todynamic
tolong                               scalar    1      long
toint                                scalar    1      int
toreal                               scalar    1      real
todouble                             scalar    1      real
todatetime                           scalar    1      datetime
totimespan                           scalar    1      timespan
totime                               scalar    1      timespan  ->totimespan
tobool                               scalar    1      bool
toboolean                            scalar    1      bool
todecimal                            scalar    1      decimal
toguid                               scalar    1      guid
parsejson                            scalar    1      dynamic   ->parse_json
parse_json                           scalar    1      dynamic

# --- Strings
toupper                              scalar    1      string
tolower                              scalar    1      string
strcat                               scalar    1..64  string
strcat_array                         scalar    2      string
array_strcat                         scalar    2      string
strcat_delim                         scalar    3..65  string
strcmp                               scalar    2      long
strrep                               scalar    2..3   string
strlen                               scalar    1      long
string_size                          scalar    1      long
to_utf8                              scalar    1      dynamic   ->unicode_codepoints_from_string
unicode_codepoints_from_string       scalar    1      dynamic
substring                            scalar    2..3   string
regex_quote                          scalar    1      string
indexof                              scalar    2..5   long
indexof_regex                        scalar    2..5   long
has_any_index                        scalar    2      long
reverse                              scalar    1      string
split                                scalar    2..3   dynamic
extract                              scalar    3..4   string
extractall                           scalar    2..3   dynamic   ->extract_all
extract_all                          scalar    2..3   dynamic
extractjson                          scalar    2..3   unknown
extract_json                         scalar    2..3   unknown
replace                              scalar    3      string    ->replace_regex
replace_regex                        scalar    3      string
replace_string                       scalar    3      string
replace_strings                      scalar    3      string
trim_start                           scalar    2      string
trim_end                             scalar    2      string
trim                                 scalar    2      string
countof                              scalar    2..3   long
translate                            scalar    3      string
make_string                          scalar    1..*   string    ->unicode_codepoints_to_string
unicode_codepoints_to_string         scalar    1..*   string
isascii                              scalar    1      bool
isutf8                               scalar    1      bool
punycode_to_string                   scalar    1      string
punycode_from_string                 scalar    1      string
punycode_domain_from_string          scalar    1      string
punycode_domain_to_string            scalar    1      string

# --- Encoding, compression, hashing
url_encode                           scalar    1      string
url_encode_component                 scalar    1      string
url_decode                           scalar    1      string
base64_encodestring                  scalar    1      string    ->base64_encode_tostring
base64_encode_tostring               scalar    1      string
base64_decode_toarray                scalar    1      dynamic
base64_encode_fromarray              scalar    1      string
base64_decodestring                  scalar    1      string    ->base64_decode_tostring
base64_decode_tostring               scalar    1      string
base64_decode_toguid                 scalar    1      guid
base64_encode_fromguid               scalar    1      string
zlib_decompress_from_base64_string   scalar    1      string
zlib_compress_to_base64_string       scalar    1      string
gzip_decompress_from_base64_string   scalar    1      string
gzip_compress_to_base64_string       scalar    1      string
hash                                 scalar    1..2   long
hash_sha256                          scalar    1      string
hash_md5                             scalar    1      string
hash_sha1                            scalar    1      string
hash_xxhash64                        scalar    1..2   long
hash_combine                         scalar    2..*   long
hash_many                            scalar    1..*   long

# --- Parsing
parse_command_line                   scalar    2      dynamic
parse_csv                            scalar    1      dynamic
parse_xml                            scalar    1      dynamic
parseurl                             scalar    1      dynamic   ->parse_url
parse_url                            scalar    1      dynamic
parseurlquery                        scalar    1      dynamic   ->parse_urlquery
parse_urlquery                       scalar    1      dynamic
parse_ipv4                           scalar    1      long
parse_ipv4_mask                      scalar    2      long
parse_ipv6                           scalar    1      string
parse_ipv6_mask                      scalar    2      string
parse_path                           scalar    1      dynamic
parse_user_agent                     scalar    1..2   dynamic
parse_version                        scalar    1      decimal

# --- Date and time
datetime_local_to_utc                scalar    2      datetime
datetime_utc_to_local                scalar    2      datetime
datetime_list_timezones              scalar    0      dynamic
format_datetime                      scalar    2      string
format_timespan                      scalar    2      string
make_datetime                        scalar    1..6   datetime
make_timespan                        scalar    1..4   timespan
datetime_add                         scalar    3      datetime
datetime_diff                        scalar    3      long
dayofweek                            scalar    1      timespan
dayofmonth                           scalar    1      int
dayofyear                            scalar    1      int
hourofday                            scalar    1      int
weekofyear                           scalar    1      int       ->week_of_year
week_of_year                         scalar    1      int
monthofyear                          scalar    1      int
startofday                           scalar    1..2   datetime
startofweek                          scalar    1..2   datetime
startofmonth                         scalar    1..2   datetime
startofyear                          scalar    1..2   datetime
endofday                             scalar    1..2   datetime
endofweek                            scalar    1..2   datetime
endofmonth                           scalar    1..2   datetime
endofyear                            scalar    1..2   datetime
getyear                              scalar    1      int
getmonth                             scalar    1      int
datepart                             scalar    2      int       ->datetime_part
datetime_part                        scalar    2      int
now                                  scalar    0..1   datetime
ago                                  scalar    1      datetime
unixtime_seconds_todatetime          scalar    1      datetime
unixtime_milliseconds_todatetime     scalar    1      datetime
unixtime_microseconds_todatetime     scalar    1      datetime
unixtime_nanoseconds_todatetime      scalar    1      datetime
bin                                  scalar    2      $1
floor                                scalar    2      $1
bin_at                               scalar    3      $1

# --- Math
round                                scalar    1..2   $1
ceiling                              scalar    1      $1
pow                                  scalar    2      real
sqrt                                 scalar    1      real
log                                  scalar    1      real
log2                                 scalar    1      real
log10                                scalar    1      real
exp                                  scalar    1      real
exp2                                 scalar    1      real
exp10                                scalar    1      real
pi                                   scalar    0      real
cos                                  scalar    1      real
sin                                  scalar    1      real
tan                                  scalar    1      real
acos                                 scalar    1      real
asin                                 scalar    1      real
atan                                 scalar    1      real
atan2                                scalar    2      real
abs                                  scalar    1      $1
cot                                  scalar    1      real
degrees                              scalar    1      real
radians                              scalar    1      real
sign                                 scalar    1      real
rand                                 scalar    0..1   real
beta_cdf                             scalar    3      real
beta_inv                             scalar    3      real
beta_pdf                             scalar    3      real
gamma                                scalar    1      real
loggamma                             scalar    1      real
erf                                  scalar    1      real
erfc                                 scalar    1      real
isnan                                scalar    1      bool
isinf                                scalar    1      bool
isfinite                             scalar    1      bool
welch_test                           scalar    6      real

# --- Bitwise
binary_and                           scalar    2      long
binary_or                            scalar    2      long
binary_xor                           scalar    2      long
binary_not                           scalar    1      long
binary_shift_right                   scalar    2      long
binary_shift_left                    scalar    2      long
bitset_count_ones                    scalar    1      long

# --- IP addresses
ipv4_compare                         scalar    2..3   long
ipv4_is_match                        scalar    2..3   bool
ipv6_compare                         scalar    2..3   long
ipv4_is_private                      scalar    1      bool
ipv6_is_match                        scalar    2..3   bool
ipv6_is_in_range                     scalar    2      bool
ipv6_is_in_any_range                 scalar    2..*   bool
ipv4_is_in_range                     scalar    2      bool
ipv4_is_in_any_range                 scalar    2..*   bool
ipv4_netmask_suffix                  scalar    1      long
format_ipv4                          scalar    1..2   string
format_ipv4_mask                     scalar    2      string
format_bytes                         scalar    1..3   string
has_ipv4                             scalar    2      bool
has_ipv4_prefix                      scalar    2      bool
has_any_ipv4                         scalar    2..*   bool
has_any_ipv4_prefix                  scalar    2..*   bool
ipv4_range_to_cidr_list              scalar    2      dynamic
geo_info_from_ip_address             scalar    1      dynamic

# --- Dynamic: arrays, property bags, sets
treepath                             scalar    1      dynamic
repeat                               scalar    2      dynamic
arraylength                          scalar    1      long      ->array_length
array_length                         scalar    1      long
range                                scalar    2..3   dynamic
array_concat                         scalar    1..64  dynamic
array_iif                            scalar    3      dynamic   ->array_iff
array_iff                            scalar    3      dynamic
array_index_of                       scalar    2..5   long
array_slice                          scalar    3      dynamic
array_split                          scalar    2      dynamic
array_shift_left                     scalar    2..3   dynamic
array_shift_right                    scalar    2..3   dynamic
array_reverse                        scalar    1      dynamic
array_rotate_left                    scalar    2      dynamic
array_rotate_right                   scalar    2      dynamic
array_sort_asc                       scalar    1..65  dynamic
array_sort_desc                      scalar    1..65  dynamic
bag_keys                             scalar    1      dynamic
zip                                  scalar    2..64  dynamic
pack                                 scalar    2..*   dynamic   ->bag_pack
pack_dictionary                      scalar    2..*   dynamic   ->bag_pack
bag_pack                             scalar    2..*   dynamic
bag_pack_columns                     scalar    1..*   dynamic
pack_all                             scalar    0..1   dynamic
pack_array                           scalar    1..*   dynamic
set_has_element                      scalar    2      bool
set_union                            scalar    2..64  dynamic
set_intersect                        scalar    2..64  dynamic
set_difference                       scalar    2..64  dynamic
set_equals                           scalar    2      bool
bag_merge                            scalar    2..64  dynamic
dynamic_to_json                      scalar    1      string
bag_remove_keys                      scalar    2      dynamic
bag_has_key                          scalar    2      bool
jaccard_index                        scalar    2      dynamic
bag_set_key                          scalar    3      dynamic
bag_zip                              scalar    2      dynamic
array_sum                            scalar    1      real      ->series_sum

# --- Time series (make-series output)
series_fir                           scalar    2..4   dynamic
series_stats                         scalar    1..2   dynamic
series_stats_dynamic                 scalar    1..2   dynamic
series_fft                           scalar    1..2   dynamic
series_ifft                          scalar    1..2   dynamic
series_fit_line                      scalar    1      dynamic
series_fit_line_dynamic              scalar    1      dynamic
series_fit_2lines                    scalar    1      dynamic
series_fit_2lines_dynamic            scalar    1      dynamic
series_outliers                      scalar    1..6   dynamic
series_iir                           scalar    3      dynamic
series_periods_detect                scalar    4      dynamic
series_periods_validate              scalar    2..17  dynamic
series_fill_backward                 scalar    1..2   dynamic
series_fill_forward                  scalar    1..2   dynamic
series_fill_const                    scalar    1..3   dynamic
series_fill_linear                   scalar    1..4   dynamic
series_fit_poly                      scalar    1..3   dynamic
series_add                           scalar    2      dynamic
series_subtract                      scalar    2      dynamic
series_multiply                      scalar    2      dynamic
series_divide                        scalar    2      dynamic
series_pow                           scalar    2      dynamic
series_greater                       scalar    2      dynamic
series_greater_equals                scalar    2      dynamic
series_less                          scalar    2      dynamic
series_less_equals                   scalar    2      dynamic
series_equals                        scalar    2      dynamic
series_not_equals                    scalar    2      dynamic
series_exp                           scalar    1      dynamic
series_sign                          scalar    1      dynamic
series_abs                           scalar    1      dynamic
series_sin                           scalar    1      dynamic
series_asin                          scalar    1      dynamic
series_cos                           scalar    1      dynamic
series_acos                          scalar    1      dynamic
series_tan                           scalar    1      dynamic
series_atan                          scalar    1      dynamic
series_magnitude                     scalar    1      real
series_sum                           scalar    1      real
series_product                       scalar    1      real
series_log                           scalar    1      dynamic
series_floor                         scalar    1      dynamic
series_ceiling                       scalar    1      dynamic
series_seasonal                      scalar    1..3   dynamic
series_decompose                     scalar    1..5   dynamic
series_decompose_forecast            scalar    2..5   dynamic
series_decompose_anomalies           scalar    1..7   dynamic
series_pearson_correlation           scalar    2      real
series_dot_product                   scalar    2      real
series_cosine_similarity             scalar    2..4   real

# --- t-digest / HyperLogLog (scalar; the digests come from the tdigest/hll aggregations)
percentile_tdigest                   scalar    2..3   unknown
percentiles_array_tdigest            scalar    2..*   dynamic
percentrank_tdigest                  scalar    2      real
rank_tdigest                         scalar    2      real
dcount_hll                           scalar    1      long

# --- Geospatial
geo_from_wkt                         scalar    1      dynamic
geo_angle                            scalar    6      real
geo_azimuth                          scalar    4      real
geo_closest_point_on_line            scalar    3      dynamic
geo_closest_point_on_polygon         scalar    3      dynamic
geo_distance_2points                 scalar    4..5   real
geo_distance_point_to_line           scalar    3      real
geo_distance_point_to_polygon        scalar    3      real
geo_point_in_circle                  scalar    5      bool
geo_point_in_polygon                 scalar    3      bool
geo_intersects_2lines                scalar    2      bool
geo_intersects_line_with_polygon     scalar    2      bool
geo_intersects_2polygons             scalar    2      bool
geo_intersection_2lines              scalar    2      dynamic
geo_intersection_line_with_polygon   scalar    2      dynamic
geo_intersection_2polygons           scalar    2      dynamic
geo_union_polygons_array             scalar    1      dynamic
geo_simplify_polygons_array          scalar    1..2   dynamic
geo_union_lines_array                scalar    1      dynamic
geo_polygon_to_h3cells               scalar    1..3   dynamic
geo_polygon_to_s2cells               scalar    1..3   dynamic
geo_polygon_densify                  scalar    1..3   dynamic
geo_polygon_area                     scalar    1      real
geo_polygon_buffer                   scalar    2..3   dynamic
geo_polygon_centroid                 scalar    1      dynamic
geo_polygon_perimeter                scalar    1      real
geo_polygon_simplify                 scalar    1..2   dynamic
geo_line_length                      scalar    1      real
geo_line_buffer                      scalar    2..3   dynamic
geo_line_centroid                    scalar    1      dynamic
geo_line_densify                     scalar    1..3   dynamic
geo_line_simplify                    scalar    1..2   dynamic
geo_line_locate_point                scalar    3..4   real
geo_line_interpolate_point           scalar    2      dynamic
geo_line_to_s2cells                  scalar    1..3   dynamic
geo_point_to_geohash                 scalar    2..3   string
geo_geohash_to_central_point         scalar    1      dynamic
geo_geohash_to_polygon               scalar    1      dynamic
geo_geohash_neighbors                scalar    1      dynamic
geo_point_buffer                     scalar    3..4   dynamic
geo_point_to_s2cell                  scalar    2..3   string
geo_s2cell_to_central_point          scalar    1      dynamic
geo_s2cell_to_polygon                scalar    1      dynamic
geo_s2cell_neighbors                 scalar    1      dynamic
geo_point_to_h3cell                  scalar    2..3   string
geo_h3cell_to_central_point          scalar    1      dynamic
geo_h3cell_to_polygon                scalar    1      dynamic
geo_h3cell_neighbors                 scalar    1      dynamic
geo_h3cell_children                  scalar    1..2   dynamic
geo_h3cell_parent                    scalar    1..2   string
geo_h3cell_rings                     scalar    2      dynamic
geo_h3cell_level                     scalar    1      int

# --- Unit conversion
convert_angle                        scalar    3      real
convert_energy                       scalar    3      real
convert_force                        scalar    3      real
convert_length                       scalar    3      real
convert_mass                         scalar    3      real
convert_speed                        scalar    3      real
convert_temperature                  scalar    3      real
convert_volume                       scalar    3      real

# --- Window functions (need serialized input: `| serialize`, `order by`, `sort by`)
row_number                           window    0..2   long
row_cumsum                           window    1..2   $1
row_rank                             window    1..2   long      ->row_rank_dense
row_rank_dense                       window    1..2   long
row_rank_min                         window    1..2   long
row_window_session                   window    3..4   $1
prev                                 window    1..3   $1
next                                 window    1..3   $1

# --- Aggregations (summarize, make-series, and the aggregation argument of pivot/top-nested)
# hll_merge, tdigest_merge and merge_tdigest also exist as scalar functions of 2..16 arguments;
# they are listed in their aggregation form, which is how queries use them.
sum                                  aggregate 1      $numeric
sumif                                aggregate 2      $numeric
count                                aggregate 0..1   long
countif                              aggregate 1      long
dcount                               aggregate 1..2   long
dcountif                             aggregate 2..3   long
tdigest                              aggregate 1..2   dynamic
hll                                  aggregate 1..2   dynamic
hll_if                               aggregate 2..3   dynamic
tdigest_merge                        aggregate 1      dynamic
merge_tdigest                        aggregate 1      dynamic
hll_merge                            aggregate 1      dynamic
min                                  aggregate 1      $1
minif                                aggregate 2      $1
max                                  aggregate 1      $1
maxif                                aggregate 2      $1
avg                                  aggregate 1      real
avgif                                aggregate 2      real
makelist                             aggregate 1..2   dynamic   ->make_list
make_list                            aggregate 1..2   dynamic
make_list_if                         aggregate 2..3   dynamic
make_list_with_nulls                 aggregate 1      dynamic
makeset                              aggregate 1..2   dynamic   ->make_set
make_set                             aggregate 1..2   dynamic
make_set_if                          aggregate 2..3   dynamic
make_dictionary                      aggregate 1..2   dynamic   ->make_bag
make_bag                             aggregate 1..2   dynamic
make_bag_if                          aggregate 2..3   dynamic
buildschema                          aggregate 1      dynamic
percentile                           aggregate 2      $1
percentiles                          aggregate 2..*   $1
percentiles_array                    aggregate 2..*   dynamic
percentilew                          aggregate 3      $1
percentilesw                         aggregate 3..*   $1
percentilesw_array                   aggregate 3..*   dynamic
stdev                                aggregate 1      real
stdevif                              aggregate 2      real
stdevp                               aggregate 1      real
variance                             aggregate 1      real
varianceif                           aggregate 2      real
variancep                            aggregate 1      real
variancepif                          aggregate 2      real
covariance                           aggregate 2      real
covarianceif                         aggregate 3      real
covariancep                          aggregate 2      real
covariancepif                        aggregate 3      real
take_any                             aggregate 1..*   $1
any                                  aggregate 1..*   $1        ->take_any
anyif                                aggregate 2      $1        ->take_anyif
take_anyif                           aggregate 2      $1
arg_min                              aggregate 1..*   $1
arg_max                              aggregate 1..*   $1
argmin                               aggregate 1..*   $1        ->arg_min
argmax                               aggregate 1..*   $1        ->arg_max
binary_all_or                        aggregate 1      $1
binary_all_and                       aggregate 1      $1
binary_all_xor                       aggregate 1      $1
count_distinct                       aggregate 1      long
count_distinctif                     aggregate 2      long

# --- Plugins (`| evaluate NAME(...)`): they return a table whose columns depend on the arguments
active_users_count                   plugin    8..*   unknown
activity_counts_metrics              plugin    5..*   unknown
activity_engagement                  plugin    4..*   unknown
activity_metrics                     plugin    2..*   unknown
autocluster                          plugin    0..*   unknown
# bag_unpack(Column [, OutputColumnPrefix] [, columnsConflict] [, ignoredProperties]) per the docs; Kusto.Language
# 12.4.1 stops at 2 arguments.
bag_unpack                           plugin    1..4   unknown
basket                               plugin    0..*   unknown
dcount_intersect                     plugin    2..*   unknown
diffpatterns                         plugin    3..*   unknown
funnel_sequence                      plugin    8      unknown
funnel_sequence_completion           plugin    8      unknown
ipv4_lookup                          plugin    3..*   unknown
ipv6_lookup                          plugin    3..4   unknown
narrow                               plugin    0      unknown
new_activity_metrics                 plugin    5..*   unknown
pivot                                plugin    1..*   unknown
preview                              plugin    1      unknown
rolling_percentile                   plugin    5..*   unknown
rows_near                            plugin    2..3   unknown
session_count                        plugin    6..*   unknown
sequence_detect                      plugin    4..*   unknown
sliding_window_counts                plugin    6..*   unknown

# --- Special forms and table functions
# toscalar(T): a tabular argument, a scalar result of unknown type (the first column of the first row of T).
toscalar                             scalar    1      unknown
# materialize(T): a table; "$1" = the same schema as the tabular argument.
materialize                          tabular   1      $1
table                                tabular   1..2   unknown

# --- Platform functions (not part of KQL proper; each exists on one platform only)
# Defender XDR advanced hunting: FileProfile and SeenBy are used as `| invoke F(...)`, DeviceFromIP is used with
# `| invoke` too, AssignedIPAddresses(device, [time]) is called as a table.
FileProfile                          tabular   0..2   unknown   @defender
DeviceFromIP                         tabular   0..2   unknown   @defender
AssignedIPAddresses                  tabular   1..2   unknown   @defender
SeenBy                               tabular   0..1   unknown   @defender
# Microsoft Sentinel / Log Analytics. workspace(), app(), resource(), arg() and adx() name another data source:
# `workspace("id").SecurityEvent`, `arg("").Resources`.
_GetWatchlist                        tabular   1      unknown   @sentinel
workspace                            tabular   1      unknown   @sentinel
app                                  tabular   1      unknown   @sentinel
resource                             tabular   1      unknown   @sentinel
arg                                  tabular   1      unknown   @sentinel
adx                                  tabular   1      unknown   @sentinel
"""
# fmt: on


def _parse(text: str) -> dict[str, FunctionInfo]:
    functions: dict[str, FunctionInfo] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, kind, args, returns, *extra = line.split()
        low, _, high = args.partition("..")
        min_args = int(low)
        max_args = min_args if not high else None if high == "*" else int(high)
        replaced_by = None
        dialects = DIALECTS
        for item in extra:
            if item.startswith("->"):
                replaced_by = item[2:]
            elif item.startswith("@"):
                dialects = tuple(item[1:].split(","))
            else:
                raise ValueError(f"functions catalog line {number}: unexpected {item!r}")
        if kind not in KINDS:
            raise ValueError(f"functions catalog line {number}: unknown kind {kind!r}")
        if name in functions:
            raise ValueError(f"functions catalog line {number}: {name} is listed twice")
        functions[name] = FunctionInfo(name, kind, min_args, max_args, returns, replaced_by, dialects)
    return functions


FUNCTIONS: dict[str, FunctionInfo] = _parse(_CATALOG)


def is_asim_parser(name: str) -> bool:
    """Sentinel ASIM unifying and source parsers: _Im_NetworkSession, _ASim_Dns, _ASIM_AuthenticationEvent, ..."""
    return any(name.startswith(prefix) and len(name) > len(prefix) for prefix in ASIM_PREFIXES)


def _asim_info(name: str) -> FunctionInfo:
    # ASIM parsers take only optional, named filtering parameters (starttime=..., eventresult=...).
    return FunctionInfo(name, "tabular", 0, None, "unknown", dialects=("sentinel",))


def lookup(name: str, dialect: str | None = None) -> FunctionInfo | None:
    """The function called `name` (case-sensitive), or None when there is no such function on `dialect`.

    dialect None (or one that is neither "defender" nor "sentinel", such as "unknown") means any platform."""
    info = FUNCTIONS.get(name)
    if info is None and is_asim_parser(name):
        info = _asim_info(name)
    if info is None:
        return None
    if dialect in DIALECTS and dialect not in info.dialects:
        return None
    return info


def names(dialect: str | None = None) -> list[str]:
    """The catalog's function names available on `dialect` (every platform when None), for suggestions."""
    return [name for name, info in FUNCTIONS.items() if dialect not in DIALECTS or dialect in info.dialects]


def plugin_names() -> list[str]:
    """The names `| evaluate` accepts."""
    return [name for name, info in FUNCTIONS.items() if info.kind == "plugin"]
