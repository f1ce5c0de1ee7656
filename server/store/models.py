"""The storage schema, in one place: SQLAlchemy 2 / GeoAlchemy2 models (all geometry in EPSG:4490).

Alembic migrations in ``server/store/migrations`` are generated from these models and reviewed by hand.
The central idea (see DESIGN.md): a division is an assignment of the atoms of an immutable atom layer
to grids; grid geometry is a cache derived from its atoms.
"""

from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SRID = 4490


def _geom(kind: str) -> Geometry:
    # spatial_index=True gives every geometry column a GiST index (created by the migration).
    return Geometry(kind, srid=SRID, spatial_index=True)


class Base(DeclarativeBase):
    """Declarative base of every wangge table."""


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


# -- administrative areas and base data ------------------------------------------------------------

ADMIN_LEVELS = ("province", "city", "county", "township", "community")
AREA_KINDS = ("urban", "rural", "street", "town", "township")


class AdminArea(Base):
    """An administrative area with its 12-digit statistical code (统计用区划代码)."""

    __tablename__ = "admin_area"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("admin_area.code"), index=True)
    kind: Mapped[str | None] = mapped_column(String(16))
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())
    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{12}$'", name="code_12_digits"),
        CheckConstraint(f"level IN {ADMIN_LEVELS}", name="level_known"),
        CheckConstraint(f"kind IS NULL OR kind IN {AREA_KINDS}", name="kind_known"),
    )


class Barrier(Base):
    """A line a grid boundary should follow: road, river, railway or wall."""

    __tablename__ = "barrier"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[str] = mapped_column(Text, unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    road_class: Mapped[str | None] = mapped_column("class", String(16))
    name: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(_geom("MULTILINESTRING"), nullable=False)
    __table_args__ = (CheckConstraint("kind IN ('road', 'river', 'rail', 'wall')", name="kind_known"),)


SITE_KINDS = ("residential_compound", "school", "hospital", "government", "industrial_park", "market", "park",
              "enterprise", "business")


class Site(Base):
    """A compound or an exclusive-grid site (school, hospital, government compound, ...)."""

    __tablename__ = "site"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(24))
    community_code: Mapped[str | None] = mapped_column(ForeignKey("admin_area.code"), index=True)
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    __table_args__ = (CheckConstraint(f"kind IN {SITE_KINDS}", name="kind_known"),)


class Building(Base):
    """A building (楼栋): the unit a grid boundary never cuts."""

    __tablename__ = "building"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[str] = mapped_column(Text, unique=True)
    community_code: Mapped[str | None] = mapped_column(ForeignKey("admin_area.code"), index=True)
    name: Mapped[str | None] = mapped_column(Text)
    road: Mapped[str | None] = mapped_column(Text)
    number: Mapped[int | None] = mapped_column(Integer)
    storeys: Mapped[int | None] = mapped_column(Integer)
    units: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer, default=0)
    population: Mapped[int] = mapped_column(Integer, default=0)
    compound: Mapped[str | None] = mapped_column(Text)
    site: Mapped[str | None] = mapped_column(String(24))
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    __table_args__ = (CheckConstraint("households >= 0", name="households_non_negative"),)


class Address(Base):
    """A standard address (标准地址), usually one per unit entrance (单元)."""

    __tablename__ = "address"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[str] = mapped_column(Text, unique=True)
    address: Mapped[str] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    district: Mapped[str | None] = mapped_column(Text)
    road: Mapped[str | None] = mapped_column(Text)
    number: Mapped[int | None] = mapped_column(Integer)
    building: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(Text)
    building_source_id: Mapped[str | None] = mapped_column(Text, index=True)
    households: Mapped[int | None] = mapped_column(Integer)
    community_code: Mapped[str | None] = mapped_column(ForeignKey("admin_area.code"), index=True)
    geom = mapped_column(_geom("POINT"), nullable=False)
    __table_args__ = (
        # Trigram index for fuzzy standard-address search (needs the pg_trgm extension).
        Index("ix_address_address_trgm", "address", postgresql_using="gin",
              postgresql_ops={"address": "gin_trgm_ops"}),
    )


# -- atoms ------------------------------------------------------------------------------------------

class AtomLayer(Base):
    """An immutable tessellation of one community into atoms, built from the base data of its day."""

    __tablename__ = "atom_layer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_code: Mapped[str] = mapped_column(ForeignKey("admin_area.code"), index=True)
    params: Mapped[dict] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = _created()


class Atom(Base):
    """The smallest piece a grid boundary may follow (基础单元): a block, compound, site or parcel."""

    __tablename__ = "atom"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("atom_layer.id", ondelete="CASCADE"), index=True)
    atom_no: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    households: Mapped[int] = mapped_column(Integer)
    population: Mapped[int] = mapped_column(Integer)
    n_buildings: Mapped[int] = mapped_column(Integer)
    site: Mapped[str | None] = mapped_column(String(24))
    compound: Mapped[str | None] = mapped_column(Text)
    block: Mapped[int | None] = mapped_column(Integer)
    geom = mapped_column(_geom("POLYGON"), nullable=False)
    __table_args__ = (UniqueConstraint("layer_id", "atom_no"),)


class AtomEdge(Base):
    """Adjacency of two atoms of a layer: shared boundary length and the part of it on barriers (metres)."""

    __tablename__ = "atom_edge"
    layer_id: Mapped[int] = mapped_column(ForeignKey("atom_layer.id", ondelete="CASCADE"), primary_key=True)
    a: Mapped[int] = mapped_column(Integer, primary_key=True)
    b: Mapped[int] = mapped_column(Integer, primary_key=True)
    length: Mapped[float] = mapped_column(Double)
    barrier_length: Mapped[float] = mapped_column(Double)


class ParcelEdge(Base):
    """Adjacency of parcels (as ``atom_edge`` for atoms): what micro-grids are rebuilt from after an edit."""

    __tablename__ = "parcel_edge"
    layer_id: Mapped[int] = mapped_column(ForeignKey("atom_layer.id", ondelete="CASCADE"), primary_key=True)
    a: Mapped[int] = mapped_column(Integer, primary_key=True)
    b: Mapped[int] = mapped_column(Integer, primary_key=True)
    length: Mapped[float] = mapped_column(Double)
    barrier_length: Mapped[float] = mapped_column(Double)


class Parcel(Base):
    """A building cell nested in an atom: the unit micro-grids are made of."""

    __tablename__ = "parcel"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("atom_layer.id", ondelete="CASCADE"), index=True)
    parcel_no: Mapped[int] = mapped_column(Integer)
    atom_no: Mapped[int] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer)
    population: Mapped[int] = mapped_column(Integer)
    geom = mapped_column(_geom("POLYGON"), nullable=False)
    __table_args__ = (UniqueConstraint("layer_id", "parcel_no"),)


# -- divisions --------------------------------------------------------------------------------------

DIVISION_STATUSES = ("draft", "submitted", "approved", "returned")


class Division(Base):
    """One version of a community's division (网格划分方案); approved versions are immutable."""

    __tablename__ = "division"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_code: Mapped[str] = mapped_column(ForeignKey("admin_area.code"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("division.id"))
    atom_layer_id: Mapped[int] = mapped_column(ForeignKey("atom_layer.id"))
    #: bumped on every save: the optimistic-concurrency token (ETag) of the draft
    revision: Mapped[int] = mapped_column(Integer, default=1)
    band_min: Mapped[int] = mapped_column(Integer)
    band_max: Mapped[int] = mapped_column(Integer)
    settings: Mapped[dict] = mapped_column(JSONB, default=dict)
    report: Mapped[dict] = mapped_column(JSONB, default=dict)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    review_note: Mapped[str | None] = mapped_column(Text)
    effective_from: Mapped[date | None] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    grids: Mapped[list[Grid]] = relationship(back_populates="division", cascade="all, delete-orphan")
    __table_args__ = (
        UniqueConstraint("community_code", "version"),
        CheckConstraint(f"status IN {DIVISION_STATUSES}", name="status_known"),
        CheckConstraint("band_min > 0 AND band_min <= band_max", name="band_ordered"),
    )


class DivisionTransition(Base):
    """One step of a division's lifecycle: who moved it from which status to which, when and why."""

    __tablename__ = "division_transition"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    division_id: Mapped[int] = mapped_column(ForeignKey("division.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = _created()



class ReviewComment(Base):
    """A reviewer's (or the county's) comment on a division, pinned to a grid, a point, or neither."""

    __tablename__ = "review_comment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    division_id: Mapped[int] = mapped_column(ForeignKey("division.id", ondelete="CASCADE"), index=True)
    grid_label: Mapped[int | None] = mapped_column(Integer)  # the label when written (kept for the record)
    # The grid itself: labels can be reused after a merge, codes are only planned until approval, so
    # the comment follows the row (which keeps its id through submission and approval).
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id", ondelete="SET NULL"), index=True)
    geom = mapped_column(_geom("POINT"))
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = _created()
    resolved: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    __table_args__ = (CheckConstraint("length(btrim(text)) > 0", name="text_not_blank"),)


EXEMPTION_STATUSES = ("pending", "accepted", "returned")


class GridExemption(Base):
    """The county's written reason for a grid out of the household band that no division can bring into it.

    Only offered when the engine proves the band unreachable there (:mod:`gis.bandproof`); the proof is
    stored as it was shown. The reviewer accepts or returns it; an accepted one is filed with the
    division. Contiguity, gaps and overlaps are never exempted.
    """

    __tablename__ = "grid_exemption"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    division_id: Mapped[int] = mapped_column(ForeignKey("division.id", ondelete="CASCADE"), index=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id", ondelete="CASCADE"), unique=True)
    households: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    proof: Mapped[dict] = mapped_column(JSONB, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = _created()
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (CheckConstraint("length(btrim(reason)) > 0", name="reason_not_blank"),
                      CheckConstraint(f"status IN {EXEMPTION_STATUSES}", name="status_known"))


GRID_TYPES = ("comprehensive", "exclusive")


class Grid(Base):
    """A grid of a division; its geometry and counts are caches derived from its atoms."""

    __tablename__ = "grid"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    division_id: Mapped[int] = mapped_column(ForeignKey("division.id", ondelete="CASCADE"), index=True)
    label: Mapped[int] = mapped_column(Integer)
    code: Mapped[str | None] = mapped_column(String(15), index=True)
    name: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(16), default="comprehensive")
    subtype: Mapped[str | None] = mapped_column(String(24))
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    households: Mapped[int] = mapped_column(Integer, default=0)
    population: Mapped[int] = mapped_column(Integer, default=0)
    quality: Mapped[dict] = mapped_column(JSONB, default=dict)
    geom = mapped_column(_geom("MULTIPOLYGON"))
    division: Mapped[Division] = relationship(back_populates="grids")
    __table_args__ = (
        UniqueConstraint("division_id", "label"),
        CheckConstraint(f"type IN {GRID_TYPES}", name="type_known"),
        CheckConstraint("code IS NULL OR code ~ '^[0-9]{15}$'", name="code_15_digits"),
    )


class GridAtom(Base):
    """The division itself: which grid each atom belongs to (exactly one per atom and division)."""

    __tablename__ = "grid_atom"
    division_id: Mapped[int] = mapped_column(ForeignKey("division.id", ondelete="CASCADE"), primary_key=True)
    atom_id: Mapped[int] = mapped_column(ForeignKey("atom.id"), primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id", ondelete="CASCADE"), index=True)


class DivisionRevision(Base):
    """A snapshot of a draft after each save: the undo/redo history and the record of who changed what.

    ``labels[i]`` is the grid label of atom number ``i`` of the division's atom layer (-1 unassigned);
    ``grids`` holds each grid's attributes by label. Snapshots are small (4 bytes per atom), and a
    full snapshot makes undo a restore rather than a chain of inverse edits.
    """

    __tablename__ = "division_revision"
    division_id: Mapped[int] = mapped_column(ForeignKey("division.id", ondelete="CASCADE"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    op: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    labels: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    grids: Mapped[dict] = mapped_column(JSONB)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = _created()


class MicroGrid(Base):
    """A micro-grid (微网格) inside a grid: a compound, courtyard or building of 30-100 households."""

    __tablename__ = "micro_grid"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id", ondelete="CASCADE"), index=True)
    label: Mapped[int] = mapped_column(Integer)
    code: Mapped[str | None] = mapped_column(String(17), index=True)
    name: Mapped[str | None] = mapped_column(Text)
    households: Mapped[int] = mapped_column(Integer, default=0)
    population: Mapped[int] = mapped_column(Integer, default=0)
    geom = mapped_column(_geom("MULTIPOLYGON"))
    __table_args__ = (UniqueConstraint("grid_id", "label"),
                      CheckConstraint("code IS NULL OR code ~ '^[0-9]{17}$'", name="code_17_digits"))


class MicroGridParcel(Base):
    """Which micro-grid each parcel belongs to."""

    __tablename__ = "micro_grid_parcel"
    micro_grid_id: Mapped[int] = mapped_column(ForeignKey("micro_grid.id", ondelete="CASCADE"), primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcel.id"), primary_key=True)


class GridCode(Base):
    """Every grid code ever issued, so a retired code is never reused (codes outlive versions)."""

    __tablename__ = "grid_code"
    code: Mapped[str] = mapped_column(String(17), primary_key=True)
    community_code: Mapped[str] = mapped_column(ForeignKey("admin_area.code"), index=True)
    first_division_id: Mapped[int | None] = mapped_column(ForeignKey("division.id"))
    issued_at: Mapped[datetime] = _created()
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# -- staff ------------------------------------------------------------------------------------------

STAFF_ROLES = ("grid_chief", "full_time", "part_time", "instructor", "micro_chief")
EMPLOYMENTS = ("full_time", "part_time", "volunteer")


class Staff(Base):
    """A grid worker (网格长, 专职/兼职网格员, 网格指导员, 微网格长)."""

    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str | None] = mapped_column(String(24), unique=True)
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(32))
    township_code: Mapped[str | None] = mapped_column(ForeignKey("admin_area.code"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    publish_contact: Mapped[bool] = mapped_column(Boolean, default=True)
    duties: Mapped[str | None] = mapped_column(Text)
    employment: Mapped[str] = mapped_column(String(16), default="full_time", server_default="full_time")
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)  # left the service (exclusive: the first day gone)
    __table_args__ = (
        CheckConstraint(f"employment IN {EMPLOYMENTS}", name="employment_known"),
        CheckConstraint("end_date IS NULL OR start_date IS NULL OR end_date >= start_date", name="dates_ordered"),
        Index("ix_staff_phone", "phone"),
    )


class StaffPhoto(Base):
    """A staff member's portrait, re-encoded as JPEG at the standard size (EXIF stripped)."""

    __tablename__ = "staff_photo"
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True)
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class StaffPolicy(Base):
    """A county's staffing settings: phone masking on public pages, the most grids one person may serve."""

    __tablename__ = "staff_policy"
    county_code: Mapped[str] = mapped_column(ForeignKey("admin_area.code"), primary_key=True)
    mask_public_phones: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    max_grids_per_person: Mapped[int] = mapped_column(Integer, default=3, server_default="3")


class StaffAssignment(Base):
    """A staff member serving a grid (by code, so it outlives division versions) in a role, over a period."""

    __tablename__ = "staff_assignment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    grid_code: Mapped[str] = mapped_column(String(17), index=True)
    role: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[date] = mapped_column(Date, server_default=func.current_date())
    end_date: Mapped[date | None] = mapped_column(Date)  # exclusive: the first day not served
    ended_reason: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (CheckConstraint(f"role IN {STAFF_ROLES}", name="role_known"),
                      CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_ordered"))


# -- matters and events -----------------------------------------------------------------------------

class MatterCategory(Base):
    """An entry of the matter list (事项清单): 大类 (parent null) or 小类, with its time limit and unit."""

    __tablename__ = "matter_category"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("matter_category.id"))
    time_limit: Mapped[float | None] = mapped_column(Double)
    time_unit: Mapped[str | None] = mapped_column(String(16))  # working_hours | working_days
    responsible_unit: Mapped[str | None] = mapped_column(Text)
    admitted_on: Mapped[date | None] = mapped_column(Date)  # admission to the list
    exited_on: Mapped[date | None] = mapped_column(Date)  # exit from the list
    __table_args__ = (CheckConstraint("time_unit IS NULL OR time_unit IN ('working_hours', 'working_days')",
                                      name="time_unit_known"),)


#: The states of :mod:`gis.eventflow` (overdue/backlog is a flag, ``escalated_at``, not a state).
EVENT_STATUSES = ("reported", "registered", "cancelled", "dispatched", "handling", "handled", "verified", "closed",
                  "returned")


class Event(Base):
    """A grid event (网格事件) and where it stands in the closed loop."""

    __tablename__ = "event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("matter_category.id"))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="reported")
    source: Mapped[str] = mapped_column(String(16), default="staff")  # staff | public
    address: Mapped[str | None] = mapped_column(Text)
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)
    community_code: Mapped[str | None] = mapped_column(ForeignKey("admin_area.code"), index=True)
    assigned_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    reporter_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    reported_at: Mapped[datetime] = _created()
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # feedback: the clock stops
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    warned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # 20 % of the time left
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # overdue: backlog 挂账
    handler_unit: Mapped[str | None] = mapped_column(Text)  # the matter's responsible unit at dispatch
    # Who fed back (reported the work done): that person may not verify it (separation of duties).
    handled_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # The reporter's key to follow the event on /track: random, so codes of others cannot be guessed.
    tracking_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    geom = mapped_column(_geom("POINT"))
    __table_args__ = (CheckConstraint(f"status IN {EVENT_STATUSES}", name="status_known"),
                      Index("ix_event_status", "status"))


class EventPhoto(Base):
    """A photo sent with a report: re-encoded JPEG or PNG with no metadata (EXIF stripped)."""

    __tablename__ = "event_photo"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 1, 2, 3: the order they were sent in
    content_type: Mapped[str] = mapped_column(String(16))  # image/jpeg | image/png
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = _created()
    __table_args__ = (UniqueConstraint("event_id", "position", name="event_photo_position"),
                      CheckConstraint("content_type IN ('image/jpeg', 'image/png')", name="photo_type_known"))


class EventHistory(Base):
    """One step of an event's history."""

    __tablename__ = "event_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = _created()
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


# -- users and audit --------------------------------------------------------------------------------

ROLES = ("admin", "municipal_reviewer", "county_editor", "township_operator", "grid_staff")


class User(Base):
    """A person who signs in; `scope_code` is the admin area (or grid) their role applies to."""

    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(24))
    scope_code: Mapped[str | None] = mapped_column(String(17))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="role_known"),)


class ApiToken(Base):
    """A token for scripts; only its hash is stored."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    label: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # None only for tokens issued before tokens expired; every new token gets an expiry.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserSession(Base):
    """A signed-in browser session; the cookie holds a random id whose SHA-256 is ``session_hash``.

    Kept on the server so that signing out, disabling a user or an admin's "end sessions" ends it for
    every copy of the cookie, and so every app instance and restart sees the same sessions.
    """

    __tablename__ = "user_session"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = _created()
    last_seen_at: Mapped[datetime] = _created()
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(256))


class RateLimit(Base):
    """Hits per key and fixed time window, shared by every worker (login throttle, anonymous endpoints)."""

    __tablename__ = "rate_limit"
    # Unlogged (migration 0012): counters need no WAL, and a crash may forget them.
    __table_args__ = {"prefixes": ["UNLOGGED"]}
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch seconds
    window_end: Mapped[int] = mapped_column(BigInteger, index=True)  # epoch seconds; rows past it are dropped
    hits: Mapped[int] = mapped_column(Integer)


class AuditLog(Base):
    """Append-only record of every write: who, when, what, before and after."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = _created()
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    actor: Mapped[str | None] = mapped_column(Text)  # username or 'cli:<user>' for commands
    action: Mapped[str] = mapped_column(String(48))
    entity: Mapped[str] = mapped_column(String(48))
    entity_id: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict | None] = mapped_column(JSONB)
    after: Mapped[dict | None] = mapped_column(JSONB)
